"""Performance facts: process memory over a short window, declared query timings,
and whether an OTLP collector answers. Installed as ``hardening.facts.performance``.

Each probe is bounded (a few samples, a few seconds) and writes nothing: declared
queries run inside ``BEGIN READ ONLY`` and are rolled back.
"""

from __future__ import annotations

import json
import shlex

from pyinfra.api import FactBase, StringCommand

from hardening.facts.postgres import _psql_guarded


class ServiceMemory(FactBase):
    """
    Resident memory of a systemd service's main process, sampled ``samples`` times.

    .. code:: python

        {"running": True, "pid": 812, "rss_kb": [20480, 20512, 20512]}
    """

    @staticmethod
    def default() -> dict:
        return {"running": False, "pid": 0, "rss_kb": []}

    def command(self, service: str, samples: int = 5, interval: float = 0.4) -> str:
        unit = shlex.quote(service)
        return (
            f'pid=$(systemctl show -p MainPID --value {unit} 2>/dev/null); echo "#pid:$pid";'
            f' if [ -n "$pid" ] && [ "$pid" != 0 ]; then for i in $(seq {int(samples)}); do'
            " awk '/^VmRSS:/ {print \"#rss:\" $2}' /proc/$pid/status 2>/dev/null;"
            f" sleep {float(interval)}; done; fi"
        )

    def process(self, output: list[str]) -> dict:
        fact = self.default()
        for line in output:
            if line.startswith("#pid:") and line[5:].isdigit():
                fact["pid"] = int(line[5:])
            elif line.startswith("#rss:") and line[5:].isdigit():
                fact["rss_kb"].append(int(line[5:]))
        fact["running"] = fact["pid"] > 0 and bool(fact["rss_kb"])
        return fact


class QueryTimings(FactBase):
    """
    Execution time of declared read-only queries, each run ``runs`` times with
    ``EXPLAIN (ANALYZE, FORMAT JSON)`` inside a rolled-back ``READ ONLY`` transaction.

    ``queries`` is JSON text: a list of ``{"name", "sql", "database"}`` (database default
    postgres); JSON keeps the fact's arguments hashable for the per-host fact cache.

    .. code:: python

        {"installed": True, "running": True,
         "queries": {"orders_by_customer": {"ms": [1.2, 0.9, 0.9], "error": ""}}}
    """

    @staticmethod
    def default() -> dict:
        return {"installed": False, "running": False, "queries": {}}

    def command(self, queries: str = "[]", runs: int = 3) -> StringCommand:
        parts = []
        for query in json.loads(queries):
            name, sql = query["name"], query["sql"]
            database = query.get("database", "postgres")
            statement = (
                "BEGIN READ ONLY; SET LOCAL statement_timeout = '10s'; "
                f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}; ROLLBACK;"
            )
            for _ in range(int(runs)):
                parts.append(
                    f"echo {shlex.quote('#query:' + name)};"
                    f" printf '%s\\n' {shlex.quote(statement)} | runuser -u postgres --"
                    f" psql -XAtq -d {shlex.quote(database)} 2>&1 | tr -d '\\n'; echo"
                )
        script = "; ".join(parts) or "true"
        return _psql_guarded(
            "if ! runuser -u postgres -- psql -XAtqc 'SELECT 1' >/dev/null 2>&1; then"
            f" echo '#down'; else {script}; echo '#ok'; fi"
        )

    def process(self, output: list[str]) -> dict:
        fact = {"installed": "#absent" not in output, "running": "#ok" in output, "queries": {}}
        current = None
        for line in output:
            if line.startswith("#query:"):
                current = fact["queries"].setdefault(line[7:], {"ms": [], "error": ""})
            elif current is not None and line and not line.startswith("#"):
                try:
                    plan = json.loads(line[line.index("[") :])
                    current["ms"].append(float(plan[0]["Execution Time"]))
                except (ValueError, KeyError, IndexError):
                    current["error"] = line[:200]
                current = None
        return fact


class OtlpCollector(FactBase):
    """
    Whether an OTLP/HTTP collector answers at ``endpoint`` (an empty export is POSTed to
    ``/v1/traces``; the HTTP status code is reported, ``000`` when nothing answers).

    .. code:: python

        {"endpoint": "http://10.0.0.5:4318", "status": 200}
    """

    @staticmethod
    def default() -> dict:
        return {"endpoint": "", "status": 0}

    def command(self, endpoint: str) -> str:
        url = endpoint.rstrip("/") + "/v1/traces"
        return (
            f"echo '#endpoint:{shlex.quote(endpoint)[:200]}'; echo \"#status:$(curl -s -o /dev/null"
            f" -m 5 -w '%{{http_code}}' -X POST -H 'Content-Type: application/json'"
            f' --data \'{{"resourceSpans":[]}}\' {shlex.quote(url)})"'
        )

    def process(self, output: list[str]) -> dict:
        fact = self.default()
        for line in output:
            if line.startswith("#endpoint:"):
                fact["endpoint"] = line[len("#endpoint:") :].strip("'")
            elif line.startswith("#status:") and line[8:].isdigit():
                fact["status"] = int(line[8:])
        return fact
