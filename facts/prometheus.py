"""Prometheus facts, read from the LIVE server's HTTP API on the host (``127.0.0.1:9090``).

Installed as ``hardening.facts.prometheus``. What Prometheus has *loaded* is what
alerts, so these facts ask the running server (``/api/v1/rules``,
``/api/v1/targets``, ``/api/v1/alertmanagers``, ``/api/v1/status/runtimeinfo``)
rather than reading files. The API is asked over https, trusting the hardening CA
(``deploys/monitoring.py`` puts Prometheus behind TLS), and over plain http only when
that fails (a host not hardened yet). They only read; the API answers no secrets.
Also here: the ``ARGS`` of the Debian units' ``/etc/default`` files and whether the Redis
exporter holds Redis' current password (compared on the host, never printed).
"""

from __future__ import annotations

import json
import re
import shlex
from urllib.parse import quote

from pyinfra.api import FactBase, StringCommand
from pyinfra.api.command import QuoteString

from hardening.facts.postgres import _psql_as_postgres, _state
from hardening.facts.redis import (
    EXPORTER_ACL,
    EXPORTER_USER,
    acl_password_shell,
    admin_password_shell,
    redis_target_shell,
)

_NO_CURL, _DOWN = "#nocurl", "#down"
#: The hardening CA certificate on the hosts (``hardening.operations.tls.CA_PATH``).
HARDENING_CA = "/usr/local/share/ca-certificates/hardening-ca.crt"


def _api_get(port: int, path: str, prefix: str = "") -> list:
    """Command parts printing ``PREFIX<json>`` of ``GET path`` (https with the hardening CA,
    else http); ``#nocurl`` / ``#down`` else."""
    address = f"127.0.0.1:{int(port)}{path}"
    label = ["printf %s", QuoteString(prefix), ";"] if prefix else []
    return [
        "if ! command -v curl >/dev/null 2>&1; then echo '#nocurl'; else",
        *label,
        "{ curl -fsS --max-time 5 --cacert",
        QuoteString(HARDENING_CA),
        QuoteString(f"https://{address}"),
        "|| curl -fsS --max-time 5",
        QuoteString(f"http://{address}"),
        f"; }} 2>/dev/null || printf '{_DOWN}'; echo; fi;",
    ]


def _json_after(output: list[str], prefix: str = "") -> dict | None:
    """The JSON document on the line starting with ``prefix``; ``None`` if absent/invalid."""
    for line in output:
        if line.startswith(prefix + "{"):
            try:
                return json.loads(line[len(prefix) :])
            except json.JSONDecodeError:
                return None
    return None


class PrometheusRules(FactBase):
    """
    Alerting rules the running Prometheus has loaded (``/api/v1/rules?type=alert``).

    .. code:: python

        {
            "reachable": True,
            "rules": [
                {"group": "hardening-critical", "name": "MemoryUsageAbove90Percent",
                 "query": "(1 - node_memory_MemAvailable_bytes / ...) > 0.9",
                 "duration": 300, "labels": {"severity": "critical",
                 "checklist_item": "MON-CRIT-03"}, "health": "ok", "state": "inactive"},
            ],
        }
    """

    @staticmethod
    def default() -> dict:
        return {"reachable": False, "rules": []}

    def command(self, port: int = 9090) -> StringCommand:
        return StringCommand(*_api_get(port, "/api/v1/rules?type=alert"))

    def process(self, output: list[str]) -> dict:
        document = _json_after(output)
        if document is None:
            return self.default()
        rules = [
            {
                "group": group.get("name", ""),
                "name": rule.get("name", ""),
                "query": rule.get("query", ""),
                "duration": rule.get("duration", 0),
                "labels": rule.get("labels") or {},
                "health": rule.get("health", ""),
                "state": rule.get("state", ""),
            }
            for group in document.get("data", {}).get("groups", [])
            for rule in group.get("rules", [])
            if rule.get("type", "alerting") == "alerting"
        ]
        return {"reachable": True, "rules": rules}


class PrometheusTargets(FactBase):
    """
    Scrape targets of the running Prometheus and their health (``/api/v1/targets``).

    .. code:: python

        {
            "reachable": True,
            "targets": [
                {"job": "node", "instance": "10.77.3.2:9100", "host": "tb1",
                 "health": "up", "last_error": ""},
            ],
        }
    """

    @staticmethod
    def default() -> dict:
        return {"reachable": False, "targets": []}

    def command(self, port: int = 9090) -> StringCommand:
        return StringCommand(*_api_get(port, "/api/v1/targets?state=active"))

    def process(self, output: list[str]) -> dict:
        document = _json_after(output)
        if document is None:
            return self.default()
        targets = [
            {
                "job": target.get("labels", {}).get("job", ""),
                "instance": target.get("labels", {}).get("instance", ""),
                "host": target.get("labels", {}).get("host", ""),
                "health": target.get("health", "unknown"),
                "last_error": target.get("lastError", ""),
            }
            for target in document.get("data", {}).get("activeTargets", [])
        ]
        return {"reachable": True, "targets": targets}


class PrometheusSeries(FactBase):
    """
    How many series Prometheus holds now for each of ``names`` (one instant query,
    ``count by (__name__)({__name__=~"a|b|..."})``); a name without series is absent.

    .. code:: python

        {"reachable": True, "series": {"node_cpu_seconds_total": 16, "up": 9}}
    """

    @staticmethod
    def default() -> dict:
        return {"reachable": False, "series": {}}

    def command(self, names: tuple[str, ...], port: int = 9090) -> StringCommand:
        pattern = "|".join(re.escape(name) for name in sorted(names))
        promql = f'count by (__name__)({{__name__=~"{pattern}"}})'
        return StringCommand(*_api_get(port, "/api/v1/query?query=" + quote(promql, safe="")))

    def process(self, output: list[str]) -> dict:
        document = _json_after(output)
        if document is None:
            return self.default()
        series = {
            result.get("metric", {}).get("__name__", ""): int(float(result["value"][1]))
            for result in document.get("data", {}).get("result", [])
            if result.get("value")
        }
        return {"reachable": True, "series": series}


class PrometheusServer(FactBase):
    """
    Whether Prometheus and Alertmanager run, which Alertmanagers Prometheus sends to,
    and whether its last configuration reload succeeded.

    .. code:: python

        {
            "prometheus_active": True,
            "alertmanager_active": True,
            "reachable": True,
            "alertmanagers": ["http://127.0.0.1:9093/api/v2/alerts"],
            "reload_success": True,
        }
    """

    units = ("prometheus", "prometheus-alertmanager")

    @staticmethod
    def default() -> dict:
        return {
            "prometheus_active": False,
            "alertmanager_active": False,
            "reachable": False,
            "alertmanagers": [],
            "reload_success": None,
        }

    def command(self, port: int = 9090) -> StringCommand:
        return StringCommand(
            *[
                f"echo unit:{unit}:$(systemctl is-active {unit} 2>/dev/null);"
                for unit in self.units
            ],
            *_api_get(port, "/api/v1/alertmanagers", prefix="alertmanagers:"),
            *_api_get(port, "/api/v1/status/runtimeinfo", prefix="runtime:"),
        )

    def process(self, output: list[str]) -> dict:
        active = {
            line.split(":")[1]: line.split(":")[2] == "active"
            for line in output
            if line.startswith("unit:") and line.count(":") == 2
        }
        managers = _json_after(output, "alertmanagers:")
        runtime = _json_after(output, "runtime:")
        return {
            "prometheus_active": active.get("prometheus", False),
            "alertmanager_active": active.get("prometheus-alertmanager", False),
            "reachable": managers is not None,
            "alertmanagers": [
                entry.get("url", "")
                for entry in (managers or {}).get("data", {}).get("activeAlertmanagers", [])
            ],
            "reload_success": (runtime or {}).get("data", {}).get("reloadConfigSuccess"),
        }


_SUMMARISE_DASHBOARD = r"""
import json, sys
try:
    board = json.load(open(sys.argv[1], encoding="utf-8"))
except FileNotFoundError:
    print("#absent"); sys.exit(0)
except ValueError as error:
    print(json.dumps({"exists": True, "valid": False, "error": str(error)[:200]})); sys.exit(0)
panels = board.get("panels", []) if isinstance(board, dict) else []
print(json.dumps({"exists": True, "valid": isinstance(board, dict) and "title" in board,
    "title": board.get("title", "") if isinstance(board, dict) else "",
    "uid": board.get("uid", "") if isinstance(board, dict) else "",
    "panels": len(panels),
    "queries": sum(len(p.get("targets", [])) for p in panels),
    "items": sorted({p.get("description", "").split(":")[0] for p in panels} - {""})}))
"""


class DashboardFile(FactBase):
    """
    Summary of a Grafana dashboard JSON file on the host (not its queries' text).

    ``items`` are the checklist ids named at the start of the panels' descriptions.

    .. code:: python

        {"exists": True, "valid": True, "title": "Hardening overview",
         "uid": "hardening-overview", "panels": 17, "queries": 17,
         "items": ["MON-CRIT-01", "MON-CRIT-02"]}
    """

    @staticmethod
    def default() -> dict:
        return {"exists": False, "valid": False, "panels": 0, "queries": 0, "items": []}

    def command(self, path: str) -> StringCommand:
        return StringCommand(
            "python3 -c", QuoteString(_SUMMARISE_DASHBOARD), QuoteString(path), "|| echo '#error'"
        )

    def process(self, output: list[str]) -> dict:
        summary = _json_after(output)
        return {**self.default(), **summary} if summary else self.default()


class PostgresExporterRole(FactBase):
    """
    Whether the PostgreSQL role the exporter logs in as exists, may log in and is in
    ``pg_monitor`` (Debian's exporter connects as ``prometheus`` over the socket, by peer).

    .. code:: python

        {"installed": True, "running": True, "standby": False,
         "exists": True, "login": True, "monitor": True}
    """

    @staticmethod
    def default() -> dict:
        return {
            "installed": False,
            "running": False,
            "standby": False,
            "exists": False,
            "login": False,
            "monitor": False,
        }

    def command(self, role: str = "prometheus") -> StringCommand:
        literal = "'" + role.replace("'", "''") + "'"
        return _psql_as_postgres(
            "SELECT pg_is_in_recovery(), r.rolname IS NOT NULL, coalesce(r.rolcanlogin, false), "
            "EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "WHERE m.member = r.oid AND g.rolname = 'pg_monitor') "
            f"FROM (SELECT 1) AS one LEFT JOIN pg_roles r ON r.rolname = {literal}"
        )

    def process(self, output: list[str]) -> dict:
        fact = {**self.default(), **_state(output)}
        for line in output:
            fields = line.split("|")
            if len(fields) == 4:
                flags = [field == "t" for field in fields]
                fact.update(zip(("standby", "exists", "login", "monitor"), flags, strict=True))
        return fact


class ServiceArgs(FactBase):
    """
    The ``ARGS`` of a Debian ``/etc/default/<unit>`` file, split into words (the units run
    ``ExecStart=/usr/bin/<daemon> $ARGS``); ``None`` when the file does not exist.

    .. code:: python

        ["--web.config.file=/etc/prometheus/web-node-exporter.yml"]
    """

    @staticmethod
    def default() -> None:
        return None

    def command(self, path: str) -> StringCommand:
        return StringCommand(
            "if [ -f",
            QuoteString(path),
            "]; then echo '#present'; sed -n '/^ARGS=/p'",
            QuoteString(path),
            "; else echo '#absent'; fi",
        )

    def process(self, output: list[str]) -> list[str] | None:
        if "#present" not in output:
            return None
        values = [line[len("ARGS=") :] for line in output if line.startswith("ARGS=")]
        if not values:
            return []
        try:
            return shlex.split(" ".join(shlex.split(values[-1])))
        except ValueError:
            return values[-1].split()


class RedisExporterAuth(FactBase):
    """
    What the Redis exporter logs in with, compared on the host (no password or hash is
    printed): whether Redis' ``admin`` ACL user has a host-generated password in the
    hardening include file (none when the secrets backend holds it); whether the include
    file holds the host-generated ``exporter`` user with today's ACL rules
    (``exporter_current``) and that user logs in at runtime (``exporter_login``); whether the
    exporter's environment file holds that password (``synced``); the file's mode, its
    ``REDIS_USER`` and the SHA-256 of its ``REDIS_PASSWORD`` value (what the Redis ACL file
    holds anyway, for the backend's credential).

    .. code:: python

        {"host_password": True, "exporter_current": True, "exporter_login": True,
         "synced": True, "mode": "600", "user": "exporter", "password_sha256": "9f86d08..."}
    """

    flags = ("host_password", "exporter_current", "exporter_login", "synced")

    @staticmethod
    def default() -> dict:
        return {
            **dict.fromkeys(RedisExporterAuth.flags, False),
            "mode": "",
            "user": "",
            "password_sha256": "",
        }

    def command(
        self, env_file: str, secrets_conf: str, config: str = "/etc/redis/redis.conf"
    ) -> StringCommand:
        line = shlex.quote(f"user {EXPORTER_USER} on >") + '"$e"' + shlex.quote(f" {EXPORTER_ACL}")
        auth = shlex.quote(f"AUTH {EXPORTER_USER} %s\\n")
        login = "timeout 5 redis-cli --no-auth-warning $t 2>&1"
        return StringCommand(
            f"a=$({admin_password_shell(secrets_conf)});",
            f"e=$({acl_password_shell(EXPORTER_USER, secrets_conf)}); b=$(grep '^REDIS_PASSWORD=' ",
            QuoteString(env_file),
            "2>/dev/null);",
            '[ -n "$a" ] && echo host_password;',
            f'if [ -n "$e" ]; then grep -qxF {line} {shlex.quote(secrets_conf)}',
            "&& echo exporter_current;",
            redis_target_shell(config),
            f'[ "$(printf {auth} "$e" | {login})" = OK ] && echo exporter_login; fi;',
            '[ -n "$e" ] && [ "$b" = "REDIS_PASSWORD=\'$e\'" ] && echo synced;',
            '[ -n "$b" ] && echo pwsha:$(printf %s "$b"',
            "| sed \"s/^REDIS_PASSWORD='//; s/'$//\"",
            "| tr -d '\\n' | sha256sum | cut -d' ' -f1);",
            "echo user:$(sed -n 's/^REDIS_USER=//p'",
            QuoteString(env_file),
            '2>/dev/null | tr -d "\'");',
            "echo mode:$(stat -c %a",
            QuoteString(env_file),
            "2>/dev/null)",
        )

    def process(self, output: list[str]) -> dict:
        def value(prefix: str) -> str:
            found = [line[len(prefix) :] for line in output if line.startswith(prefix)]
            return found[0] if found else ""

        return {
            **{flag: flag in output for flag in self.flags},
            "mode": value("mode:"),
            "user": value("user:"),
            "password_sha256": value("pwsha:"),
        }
