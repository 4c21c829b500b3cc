"""pgBackRest, WAL archiving, backup timers and restore drill facts.

Installed as ``hardening.facts.pgbackrest``. Read-only; secrets in pgBackRest's
configuration (S3 key, cipher passphrase) are reported as set or not, never as values.
"""

from __future__ import annotations

import json
import re

from pyinfra.api import FactBase, StringCommand
from pyinfra.api.command import QuoteString

_ABSENT, _DOWN = "#absent", "#down"
#: Option names whose values are never read back from the host.
SECRET_OPTIONS = ("repo1-cipher-pass", "repo1-s3-key", "repo1-s3-key-secret")
#: The systemd timers the backups operation installs.
TIMERS = ("hardening-backup-full", "hardening-backup-diff", "hardening-restore-drill")
DRILL_RESULT = "/var/lib/hardening/drill/last.json"
_SYSID_SQL = "SELECT system_identifier FROM pg_control_system()"


class PgbackrestInfo(FactBase):
    """
    ``pgbackrest --output=json info`` of one stanza, run as the postgres user.

    .. code:: python

        {"installed": True, "error": "",  # first line of an error, e.g. repository unreachable
         "status": "ok", "status_code": 0, "cipher": "aes-256-cbc",
         # the cluster the stanza belongs to, and this host's cluster (mismatch: another's)
         "system_id": "7318862414473342201", "local_system_id": "7318862414473342201",
         "backups": [{"label": "20240101-010000F", "type": "full", "start": 1704070800,
                      "stop": 1704070830, "size": 23456789, "repo_size": 3456789}],
         "archive_min": "000000010000000000000001", "archive_max": "0000000100000000000000A2"}
    """

    @staticmethod
    def default() -> dict:
        return {
            "installed": False,
            "error": "",
            "status": "missing",
            "status_code": None,
            "cipher": "",
            "system_id": "",
            "local_system_id": "",
            "backups": [],
            "archive_min": "",
            "archive_max": "",
        }

    def command(self, stanza: str = "main") -> StringCommand:
        return StringCommand(
            "if ! command -v pgbackrest >/dev/null 2>&1; then echo '#absent'; exit 0; fi;",
            'echo "#sysid=$(runuser -u postgres -- psql -XAtq -c',
            QuoteString(_SYSID_SQL),
            '2>/dev/null)";',
            "out=$(cd /tmp && runuser -u postgres -- timeout 60 pgbackrest --output=json",
            "--io-timeout=10 --stanza=" + stanza,
            'info 2>&1) || out="$out',
            'ERROR: pgbackrest info exited $? (124: no answer in 60 s)";',
            'printf "%s\\n" "$out" | head -c 200000; echo',
        )

    def process(self, output: list[str]) -> dict:
        fact = self.default()
        if _ABSENT in output:
            return fact
        fact["installed"] = True
        sysid = [line for line in output if line.startswith("#sysid=")]
        fact["local_system_id"] = sysid[0][len("#sysid=") :].strip() if sysid else ""
        output = [line for line in output if not line.startswith("#sysid=")]
        text = "\n".join(output).strip()
        try:
            stanzas = json.loads(text)
        except ValueError:
            fact["status"] = "error"
            fact["error"] = _first_error(output)
            return fact
        if not stanzas:
            return fact
        stanza = stanzas[0]
        fact["status_code"] = stanza.get("status", {}).get("code")
        fact["status"] = stanza.get("status", {}).get("message", "")
        if fact["status_code"] == 99:  # "other": the repository's own status says why
            repos = [repo.get("status", {}) for repo in stanza.get("repo", [])]
            fact["error"] = next((r.get("message", "") for r in repos if r.get("code")), "")
            fact["error"] = fact["error"] or fact["status"]
        dbs = sorted(stanza.get("db") or [], key=lambda db: db.get("id", 0))
        fact["system_id"] = str(dbs[-1].get("system-id", "")) if dbs else ""
        fact["cipher"] = stanza.get("cipher", "")
        archives = stanza.get("archive") or [{}]
        fact["archive_min"] = archives[-1].get("min") or ""
        fact["archive_max"] = archives[-1].get("max") or ""
        for backup in stanza.get("backup", []):
            fact["backups"].append(
                {
                    "label": backup.get("label", ""),
                    "type": backup.get("type", ""),
                    "start": backup.get("timestamp", {}).get("start"),
                    "stop": backup.get("timestamp", {}).get("stop"),
                    "size": backup.get("info", {}).get("size"),
                    "repo_size": backup.get("info", {}).get("repository", {}).get("size"),
                    "error": bool(backup.get("error")),
                }
            )
        return fact


def _first_error(output: list[str]) -> str:
    """pgBackRest's ``ERROR: [nnn]: ...`` line (else the first line), on one line."""
    lines = [line.strip() for line in output if line.strip()]
    return next((line for line in lines if "ERROR" in line), lines[0] if lines else "no output")


_PRIMARY_MARK = "#hardening-primary="


class PgbackrestConfig(FactBase):
    """
    Options of ``/etc/pgbackrest/pgbackrest.conf`` and ``conf.d/*.conf``, secrets as ``"set"``.

    .. code:: python

        {"exists": True,
         "options": {"global": {"repo1-type": "s3", "repo1-retention-full": "2",
                                "repo1-cipher-type": "aes-256-cbc", "repo1-cipher-pass": "set"},
                     "main": {"pg1-path": "/var/lib/postgresql/15/main"}},
         "primary": "db1"}  # the cluster's primary hardening wrote in (#hardening-primary=)
    """

    @staticmethod
    def default() -> dict:
        return {"exists": False, "options": {}, "primary": ""}

    def command(self, path: str = "/etc/pgbackrest/pgbackrest.conf") -> StringCommand:
        secrets = "|".join(SECRET_OPTIONS)
        return StringCommand(
            "for f in",
            QuoteString(path),
            "/etc/pgbackrest/conf.d/*.conf; do [ -f \"$f\" ] && echo '#file' &&",
            f"sed -E 's/^[[:space:]]*({secrets})[[:space:]]*=[[:space:]]*.+$/\\1=set/' \"$f\";",
            "done; echo '#end'",
        )

    def process(self, output: list[str]) -> dict:
        fact: dict = {"exists": "#file" in output, "options": {}, "primary": ""}
        section = "global"
        for raw in output:
            line = raw.strip()
            if line.startswith(_PRIMARY_MARK):
                fact["primary"] = line[len(_PRIMARY_MARK) :].strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                continue
            key, sep, value = line.partition("=")
            if sep:
                fact["options"].setdefault(section, {})[key.strip()] = value.strip()
        return fact


class PgArchiver(FactBase):
    """
    WAL archiving as the running server sees it (``pg_stat_archiver`` and settings).

    .. code:: python

        {"running": True, "archive_mode": "on", "archive_timeout": 60,
         "archive_command": "pgbackrest --stanza=main archive-push %p",
         "archived_count": 12, "last_archived_time": 1704070800.0,
         "failed_count": 0, "last_failed_time": None, "pending_restart": ["archive_mode"]}
    """

    @staticmethod
    def default() -> dict:
        return {
            "running": False,
            "archive_mode": "",
            "archive_timeout": 0,
            "archive_command": "",
            "archived_count": 0,
            "last_archived_time": None,
            "failed_count": 0,
            "last_failed_time": None,
            "pending_restart": [],
        }

    def command(self) -> StringCommand:
        sql = (
            "SELECT 'archiver|' || archived_count || '|' "
            "|| coalesce(extract(epoch FROM last_archived_time)::text, '') || '|' "
            "|| failed_count || '|' || coalesce(extract(epoch FROM last_failed_time)::text, '') "
            "FROM pg_stat_archiver UNION ALL "
            "SELECT 'setting|' || name || '|' || setting || '|' || pending_restart::text "
            "FROM pg_settings WHERE name IN ('archive_mode', 'archive_timeout', "
            "'archive_command') OR pending_restart"
        )
        return StringCommand(
            "runuser -u postgres -- psql -XAtq -c",
            QuoteString(sql),
            "2>/dev/null || echo '#down'",
        )

    def process(self, output: list[str]) -> dict:
        fact = self.default()
        fact["running"] = _DOWN not in output
        for line in output:
            fields = line.split("|")
            if fields[0] == "archiver" and len(fields) == 5:
                fact["archived_count"] = int(fields[1])
                fact["last_archived_time"] = float(fields[2]) if fields[2] else None
                fact["failed_count"] = int(fields[3])
                fact["last_failed_time"] = float(fields[4]) if fields[4] else None
            elif fields[0] == "setting" and len(fields) >= 4:
                name, value, pending = fields[1], "|".join(fields[2:-1]), fields[-1]
                if name in ("archive_mode", "archive_command"):
                    fact[name] = value
                elif name == "archive_timeout":
                    fact[name] = int(value)
                if pending == "true":
                    fact["pending_restart"].append(name)
        return fact


class BackupTimers(FactBase):
    """
    State of the hardening backup and restore-drill timers (``systemctl show``).

    .. code:: python

        {"hardening-backup-full": {"enabled": True, "active": True, "calendar": "Sun 01:00",
                                   "last_trigger": 1704070800.0, "next_elapse": 1704675600.0}}

    A timer that is not installed is missing from the mapping. Subclasses set
    ``timers`` to read other timers the same way.
    """

    default = dict
    timers: tuple[str, ...] = TIMERS

    def command(self) -> StringCommand:
        units = " ".join(f"{timer}.timer" for timer in self.timers)
        return StringCommand(
            f'for u in {units}; do echo "#unit=$u";',
            "systemctl show -p LoadState -p UnitFileState -p ActiveState -p TimersCalendar",
            '--timestamp=unix -p LastTriggerUSec -p NextElapseUSecRealtime "$u"',
            "2>/dev/null; done",
        )

    def process(self, output: list[str]) -> dict:
        found: dict = {}
        unit = ""
        props: dict[str, dict[str, str]] = {}
        for line in output:
            if line.startswith("#unit="):
                unit = line[len("#unit=") : -len(".timer")]
                props[unit] = {}
            elif unit and "=" in line:
                key, _, value = line.partition("=")
                props[unit][key] = value
        for unit, values in props.items():
            if values.get("LoadState") != "loaded":
                continue
            found[unit] = {
                "enabled": values.get("UnitFileState") == "enabled",
                "active": values.get("ActiveState") == "active",
                "calendar": _calendar(values.get("TimersCalendar", "")),
                "last_trigger": _unix(values.get("LastTriggerUSec", "")),
                "next_elapse": _unix(values.get("NextElapseUSecRealtime", "")),
            }
        return found


def _calendar(value: str) -> str:
    """``{ OnCalendar=Sun *-*-* 01:00:00 ; next_elapse=@1 }`` -> ``Sun *-*-* 01:00:00``."""
    match = re.search(r"OnCalendar=([^;}]+)", value)
    return match.group(1).strip() if match else value


def _unix(value: str) -> float | None:
    """``@1704070800`` (systemctl --timestamp=unix) -> seconds; empty / n/a -> None."""
    value = value.strip()
    return float(value[1:]) if value.startswith("@") and value[1:].isdigit() else None


class RestoreDrillResult(FactBase):
    """
    The last restore drill's result file (written by ``hardening-restore-drill``).

    .. code:: python

        {"exists": True, "ok": True, "started": 1704070800.0, "finished": 1704070861.0,
         "last_success": 1704070861.0, "rto_seconds": 61.0, "rpo_seconds": 75.0,
         "backup_label": "20240101-010000F", "target": "latest",
         "tables": {"postgres/pgbench_accounts": 2000000}, "amcheck": "ok", "error": ""}
    """

    @staticmethod
    def default() -> dict:
        return {"exists": False}

    def command(self, path: str = DRILL_RESULT) -> StringCommand:
        return StringCommand(
            "cat", QuoteString(path), "2>/dev/null | head -c 100000 || true; echo; echo '#end'"
        )

    def process(self, output: list[str]) -> dict:
        text = "\n".join(line for line in output if line != "#end").strip()
        if not text:
            return self.default()
        try:
            result = json.loads(text)
        except ValueError:
            return {"exists": True, "ok": False, "error": "result file is not JSON"}
        return {"exists": True, **result} if isinstance(result, dict) else self.default()
