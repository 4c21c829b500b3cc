"""PostgreSQL facts, read on the host as the ``postgres`` OS user.

Installed as ``hardening.facts.postgres``. These facts only read: ``SELECT``
statements and login attempts with publicly known default credentials.
"""

from __future__ import annotations

import json
import re
import shlex

from pyinfra.api import FactBase, StringCommand
from pyinfra.api.command import QuoteString

_ABSENT, _DOWN = "#absent", "#down"


def _psql_as_postgres(sql: str) -> StringCommand:
    """``psql`` as the postgres OS user; prints #absent / #down instead of failing."""
    return StringCommand(
        "if ! command -v pg_lsclusters >/dev/null 2>&1; then echo '#absent';",
        "else runuser -u postgres -- psql -XAtq -F '|' -c",
        QuoteString(sql),
        "2>/dev/null || echo '#down'; fi",
    )


def _state(output: list[str]) -> dict:
    return {"installed": _ABSENT not in output, "running": not {_ABSENT, _DOWN} & set(output)}


class PostgresHbaRules(FactBase):
    """
    The effective ``pg_hba.conf`` rules of the running server (``pg_hba_file_rules``).

    .. code:: python

        {
            "installed": True,
            "running": True,
            "rules": [
                {"line": 118, "type": "local", "database": "all", "user": "postgres",
                 "address": "", "netmask": "", "method": "peer"},
            ],
        }
    """

    @staticmethod
    def default() -> dict:
        return {"installed": False, "running": False, "rules": []}

    def command(self) -> StringCommand:
        return _psql_as_postgres(
            "SELECT line_number, type, array_to_string(database, ','), "
            "array_to_string(user_name, ','), coalesce(address, ''), coalesce(netmask, ''), "
            "coalesce(auth_method, '') FROM pg_hba_file_rules ORDER BY line_number"
        )

    def process(self, output: list[str]) -> dict:
        fact = {**_state(output), "rules": []}
        for line in output:
            fields = line.split("|")
            if len(fields) != 7 or not fields[0].isdigit():
                continue
            keys = ("line", "type", "database", "user", "address", "netmask", "method")
            rule = dict(zip(keys, fields, strict=True))
            rule["line"] = int(fields[0])
            fact["rules"].append(rule)
        return fact


#: Publicly known default credentials that must never work (label, user, password).
WELL_KNOWN_LOGINS: tuple[tuple[str, str, str], ...] = (
    ("postgres without password", "postgres", ""),
    ("postgres/postgres", "postgres", "postgres"),
    ("postgres/password", "postgres", "password"),
    ("postgres/admin", "postgres", "admin"),
)


class PostgresDefaultLogins(FactBase):
    """
    Which publicly known default logins PostgreSQL accepts over TCP.

    Tries each of ``WELL_KNOWN_LOGINS`` against ``host:port`` (default
    ``127.0.0.1:5432``) with a 3 s timeout and no password prompt.

    .. code:: python

        {"installed": True, "listening": True, "accepted": ["postgres/postgres"]}
    """

    @staticmethod
    def default() -> dict:
        return {"installed": False, "listening": False, "accepted": []}

    def command(self, host: str = "127.0.0.1", port: int = 5432) -> StringCommand:
        parts: list = [
            "if ! command -v psql >/dev/null 2>&1; then echo '#absent'; exit 0; fi;",
            "if ! pg_isready -q -h",
            QuoteString(host),
            "-p",
            QuoteString(str(port)),
            "; then echo '#down'; exit 0; fi;",
        ]
        for label, user, password in WELL_KNOWN_LOGINS:
            parts += [
                f"PGCONNECT_TIMEOUT=3 PGPASSWORD={shlex.quote(password)} psql -XAtqw -h",
                QuoteString(host),
                "-p",
                QuoteString(str(port)),
                "-U",
                QuoteString(user),
                "-d postgres -c 'SELECT 1' >/dev/null 2>&1 && echo",
                QuoteString("accepted:" + label),
                ";",
            ]
        parts.append("echo '#tried'")  # an empty output would make pyinfra skip process()
        return StringCommand(*parts)

    def process(self, output: list[str]) -> dict:
        return {
            "installed": _ABSENT not in output,
            "listening": not {_ABSENT, _DOWN} & set(output),
            "accepted": [
                line[len("accepted:") :] for line in output if line.startswith("accepted:")
            ],
        }


#: The cluster hardening manages (Debian layout).
PG_VERSION, PG_CLUSTER = "15", "main"
PG_DATA = f"/var/lib/postgresql/{PG_VERSION}/{PG_CLUSTER}"
PG_CONF_DIR = f"/etc/postgresql/{PG_VERSION}/{PG_CLUSTER}"
PG_SERVICE = f"postgresql@{PG_VERSION}-{PG_CLUSTER}"
#: Replication login used by standbys; its password lives only on the hosts (0600 files).
REPLICATION_ROLE = "replicator"
REPLICATION_PASSWORD_FILE = "/var/lib/postgresql/.hardening-replication-password"
PGPASS_FILE = "/var/lib/postgresql/.pgpass"
DAILY_REPORT_DIR = "/var/lib/hardening/postgres"

#: Settings observed by ``PostgresSettings`` (``pending_restart`` ones are always added).
OBSERVED_SETTINGS: tuple[str, ...] = (
    "password_encryption", "listen_addresses", "port", "log_connections",
    "log_disconnections", "log_min_duration_statement", "log_lock_waits", "log_line_prefix",
    "log_temp_files", "shared_preload_libraries", "track_io_timing", "max_connections",
    "superuser_reserved_connections", "statement_timeout", "idle_in_transaction_session_timeout",
    "work_mem", "shared_buffers", "data_checksums", "wal_level", "max_wal_senders",
    "hot_standby", "primary_conninfo", "primary_slot_name",
)  # fmt: skip

#: Units of pg_settings normalised to kB (memory) and ms (time).
_SECRET_IN_CONNINFO = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)
_TRUE = ("t", "true")
_UNIT_FACTORS = {"8kB": 8, "kB": 1, "MB": 1024, "ms": 1, "s": 1000, "min": 60000}
_SQL_LITERAL_MASK = r"regexp_replace(left(regexp_replace(query, '\s+', ' ', 'g'), 200), '''[^'']*''', '''***''', 'g')"  # noqa: E501


def _normalise(value: str, unit: str) -> int | str:
    """``("16384", "8kB")`` -> ``131072`` (kB); ``("1000", "ms")`` -> ``1000``; text as is."""
    if unit in _UNIT_FACTORS and value.lstrip("-").isdigit():
        number = int(value)
        return number if number < 0 else number * _UNIT_FACTORS[unit]
    if value.lstrip("-").isdigit():
        return int(value)
    return value


def _psql_guarded(script: str) -> StringCommand:
    """A shell ``script`` run only where PostgreSQL is installed (``#absent`` otherwise)."""
    return StringCommand(
        "if ! command -v pg_lsclusters >/dev/null 2>&1; then echo '#absent'; else", script, "; fi"
    )


def _psql_lines(*statements: str, database: str = "postgres") -> str:
    """Shell text: run ``statements`` as the postgres user; ``#down`` when psql fails."""
    parts = " ".join(f"-c {shlex.quote(sql)}" for sql in statements)
    return f"runuser -u postgres -- psql -XAtq -d {shlex.quote(database)} {parts} 2>/dev/null"


def _tagged(output: list[str], tag: str, fields: int) -> list[list[str]]:
    """Lines ``tag|a|b|...`` split into their ``fields`` values (the last one may hold ``|``)."""
    rows = []
    for line in output:
        if line.startswith(tag + "|"):
            values = line[len(tag) + 1 :].split("|", fields - 1)
            if len(values) == fields:
                rows.append(values)
    return rows


class PostgresSettings(FactBase):
    """
    Effective server settings (``pg_settings``) and which ones wait for a restart.

    Memory settings are in kB and times in ms (``-1``/``0`` kept as they are);
    passwords inside ``primary_conninfo`` are masked.

    .. code:: python

        {"installed": True, "running": True,
         "settings": {"max_connections": 100, "shared_buffers": 131072,
                      "log_min_duration_statement": 1000, "log_connections": "on"},
         "pending_restart": ["shared_buffers"]}
    """

    @staticmethod
    def default() -> dict:
        return {"installed": False, "running": False, "settings": {}, "pending_restart": []}

    def command(self) -> StringCommand:
        names = ",".join(f"'{name}'" for name in OBSERVED_SETTINGS)
        sql = (
            "SELECT 'setting|' || name || '|' || coalesce(unit, '') || '|' || pending_restart"
            f" || '|' || coalesce(setting, '') FROM pg_settings WHERE name IN ({names})"
            " OR pending_restart"
        )
        return _psql_guarded(f"{_psql_lines(sql)} || echo '#down'")

    def process(self, output: list[str]) -> dict:
        fact = {**_state(output), "settings": {}, "pending_restart": []}
        for name, unit, pending, value in _tagged(output, "setting", 4):
            if name == "primary_conninfo":
                value = _SECRET_IN_CONNINFO.sub(r"\1***", value)
            fact["settings"][name] = _normalise(value, unit)
            if pending in _TRUE:
                fact["pending_restart"].append(name)
        return fact


class PostgresServiceLimits(FactBase):
    """
    systemd limits of the cluster's unit and the host's memory.

    .. code:: python

        {"LimitNOFILE": "65536", "MemoryMax": "infinity", "memory_kb": 24683264}
    """

    @staticmethod
    def default() -> dict:
        return {"LimitNOFILE": "", "MemoryMax": "", "memory_kb": 0}

    def command(self) -> str:
        return (
            f"systemctl show {PG_SERVICE} -p LimitNOFILE -p MemoryMax 2>/dev/null;"
            " awk '/^MemTotal:/ {print \"memory_kb=\" $2}' /proc/meminfo"
        )

    def process(self, output: list[str]) -> dict:
        fact = self.default()
        for line in output:
            key, _, value = line.partition("=")
            if key == "memory_kb" and value.isdigit():
                fact[key] = int(value)
            elif key in fact:
                fact[key] = value
        return fact


class PostgresStatements(FactBase):
    """
    Slowest statements by mean time from ``pg_stat_statements`` (string literals masked).

    ``extension`` is ``"missing"`` (not created), ``"not-loaded"`` (not in
    ``shared_preload_libraries``) or ``"ok"``.

    .. code:: python

        {"installed": True, "running": True, "extension": "ok",
         "statements": [{"queryid": "-4212", "calls": 12, "mean_ms": 1503.2,
                         "total_ms": 18038.4, "query": "SELECT pg_sleep($1)"}]}
    """

    @staticmethod
    def default() -> dict:
        return {"installed": False, "running": False, "extension": "missing", "statements": []}

    def command(self, limit: int = 10, exclude_superusers: bool = False) -> StringCommand:
        has_ext = "SELECT 'ext|' || count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"
        # superusers' statements are maintenance (pgBackRest, the toolkit's own probes)
        where = (
            " WHERE userid NOT IN (SELECT oid FROM pg_roles WHERE rolsuper)"
            if exclude_superusers
            else ""
        )
        top = (
            "SELECT 'stmt|' || queryid || '|' || calls || '|' || round(mean_exec_time::numeric, 1)"
            f" || '|' || round(total_exec_time::numeric, 1) || '|' || {_SQL_LITERAL_MASK}"
            f" FROM pg_stat_statements{where} ORDER BY mean_exec_time DESC LIMIT {int(limit)}"
        )
        return _psql_guarded(
            f"out=$({_psql_lines(has_ext)}) || {{ echo '#down'; exit 0; }}; echo \"$out\";"
            f' if [ "$out" = "ext|1" ]; then {_psql_lines(top)} || echo "#not-loaded"; fi'
        )

    def process(self, output: list[str]) -> dict:
        fact = {**_state(output), "extension": "missing", "statements": []}
        if "ext|1" in output:
            fact["extension"] = "not-loaded" if "#not-loaded" in output else "ok"
        for queryid, calls, mean, total, query in _tagged(output, "stmt", 5):
            fact["statements"].append(
                {
                    "queryid": queryid,
                    "calls": int(calls),
                    "mean_ms": float(mean),
                    "total_ms": float(total),
                    "query": query,
                }
            )
        return fact


class PostgresTableStats(FactBase):
    """
    Per user table in every database: rows, sequential vs index scans, its indexes
    (``name:col+col``); and indexes never scanned (not unique, not primary keys).

    .. code:: python

        {"installed": True, "running": True,
         "tables": [{"database": "app", "table": "public.orders", "rows": 50000,
                     "seq_scan": 40, "idx_scan": 0, "indexes": {"orders_pkey": ["id"]}}],
         "unused_indexes": [{"database": "app", "index": "public.orders_note_idx",
                             "table": "public.orders", "size": "1112 kB"}]}
    """

    @staticmethod
    def default() -> dict:
        return {"installed": False, "running": False, "tables": [], "unused_indexes": []}

    def command(self) -> StringCommand:
        databases = "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate"
        tables = (
            "SELECT 'table|' || current_database() || '|' || schemaname || '.' || relname"
            " || '|' || n_live_tup || '|' || seq_scan || '|' || coalesce(idx_scan, 0) || '|'"
            " || coalesce((SELECT string_agg(c.relname || ':' || (SELECT string_agg(a.attname,"
            " '+' ORDER BY k.n) FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n) JOIN"
            " pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum), ',')"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = t.relid), '') FROM pg_stat_user_tables t"
        )
        unused = (
            "SELECT 'unused|' || current_database() || '|' || s.schemaname || '.'"
            " || s.indexrelname || '|' || s.schemaname || '.' || s.relname || '|'"
            " || pg_size_pretty(pg_relation_size(s.indexrelid)) FROM pg_stat_user_indexes s"
            " JOIN pg_index i ON i.indexrelid = s.indexrelid"
            " WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary"
        )
        return _psql_guarded(
            f"dbs=$({_psql_lines(databases)}) || {{ echo '#down'; exit 0; }};"
            ' for db in $dbs; do runuser -u postgres -- psql -XAtq -d "$db"'
            f" -c {shlex.quote(tables)} -c {shlex.quote(unused)} 2>/dev/null; done;"
            " echo '#ok'"
        )

    def process(self, output: list[str]) -> dict:
        fact = {**_state(output), "tables": [], "unused_indexes": []}
        for database, table, rows, seq, idx, indexes in _tagged(output, "table", 6):
            fact["tables"].append(
                {
                    "database": database,
                    "table": table,
                    "rows": int(rows),
                    "seq_scan": int(seq),
                    "idx_scan": int(idx),
                    "indexes": {
                        name: columns.split("+")
                        for name, _, columns in (e.partition(":") for e in indexes.split(","))
                        if name
                    },
                }
            )
        for database, index, table, size in _tagged(output, "unused", 4):
            fact["unused_indexes"].append(
                {"database": database, "index": index, "table": table, "size": size}
            )
        return fact


class PostgresConnections(FactBase):
    """
    Client connections against ``max_connections``, and whether pgBouncer accepts a login
    on its Unix socket (admin console, as the ``pgbouncer`` user of the same OS user).

    .. code:: python

        {"installed": True, "running": True, "direct": True, "clients": 3,
         "max_connections": 100, "reserved": 3, "pgbouncer": True}
    """

    @staticmethod
    def default() -> dict:
        return {
            "installed": False,
            "running": False,
            "direct": False,
            "clients": 0,
            "max_connections": 0,
            "reserved": 0,
            "pgbouncer": False,
        }

    def command(self, pgbouncer_port: int = 6432) -> StringCommand:
        counts = (
            "SELECT 'conn|' || count(*) FILTER (WHERE backend_type = 'client backend') || '|'"
            " || current_setting('max_connections') || '|'"
            " || current_setting('superuser_reserved_connections') FROM pg_stat_activity"
        )
        return _psql_guarded(
            f"{_psql_lines(counts)} || echo '#down';"
            " runuser -u postgres -- psql -XAtq -h /var/run/postgresql -p"
            f" {int(pgbouncer_port)} -U pgbouncer -d pgbouncer -c 'SHOW VERSION'"
            " >/dev/null 2>&1 && echo 'pgbouncer|ok' || echo 'pgbouncer|fail'"
        )

    def process(self, output: list[str]) -> dict:
        fact = {**self.default(), **_state(output), "pgbouncer": "pgbouncer|ok" in output}
        for clients, max_connections, reserved in _tagged(output, "conn", 3):
            fact.update(
                direct=True,
                clients=int(clients),
                max_connections=int(max_connections),
                reserved=int(reserved),
            )
        return fact


class PostgresReplication(FactBase):
    """
    Streaming replication as this server sees it: recovery mode, WAL senders (primary),
    slots, the WAL receiver (standby), the heartbeat's age, and what a standby build needs
    (the replication role, user databases and tables, the ``.pgpass`` entry).

    .. code:: python

        {"installed": True, "running": True, "in_recovery": False,
         "senders": [{"name": "15/main", "client": "10.77.4.2", "state": "streaming",
                      "lag_bytes": 0, "replay_lag_s": 0.0}],
         "slots": [{"name": "tb2", "active": True, "wal_status": "reserved"}],
         "receiver": {"status": "streaming", "sender_host": "10.77.3.2"},
         "heartbeat_age_s": 4.2, "role": True, "databases": ["postgres"],
         "user_tables": 0, "pgpass": False, "password_file": True}
    """

    @staticmethod
    def default() -> dict:
        return {
            "installed": False,
            "running": False,
            "in_recovery": False,
            "senders": [],
            "slots": [],
            "receiver": {},
            "heartbeat_age_s": None,
            "role": False,
            "databases": [],
            "user_tables": 0,
            "pgpass": False,
            "password_file": False,
        }

    def command(self) -> StringCommand:
        heartbeat = (
            "SELECT 'heartbeat|' || coalesce((xpath('/row/a/text()', query_to_xml("
            "'SELECT extract(epoch FROM now() - max(ts)) AS a FROM hardening.heartbeat',"
            " false, true, '')))[1]::text, '') WHERE to_regclass('hardening.heartbeat') IS NOT NULL"
        )
        statements = (
            "SELECT 'recovery|' || pg_is_in_recovery()",
            "SELECT 'sender|' || application_name || '|' || coalesce(host(client_addr), 'local')"
            " || '|' || state || '|' || coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(),"
            " replay_lsn), -1)::bigint || '|' || coalesce(extract(epoch FROM replay_lag), 0)"
            " FROM pg_stat_replication",
            "SELECT 'slot|' || slot_name || '|' || active || '|' || coalesce(wal_status, '')"
            " FROM pg_replication_slots WHERE slot_type = 'physical'",
            "SELECT 'receiver|' || status || '|' || coalesce(sender_host, '')"
            " FROM pg_stat_wal_receiver",
            heartbeat,
            f"SELECT 'role|' || count(*) FROM pg_roles WHERE rolname = '{REPLICATION_ROLE}'"
            " AND rolreplication AND rolcanlogin",
            "SELECT 'databases|' || string_agg(datname, ',') FROM pg_database"
            " WHERE NOT datistemplate",
            "SELECT 'user_tables|' || count(*) FROM pg_stat_user_tables"
            " WHERE schemaname <> 'hardening'",
        )
        files = (
            f"grep -qs ':replication:{REPLICATION_ROLE}:' {PGPASS_FILE} && echo 'pgpass|1';"
            f" test -s {REPLICATION_PASSWORD_FILE} && echo 'password_file|1'"
        )
        return _psql_guarded(f"{_psql_lines(*statements)} || echo '#down'; {files}; true")

    def process(self, output: list[str]) -> dict:
        fact = {**self.default(), **_state(output)}
        fact["in_recovery"] = bool({"recovery|t", "recovery|true"} & set(output))
        fact["role"] = "role|1" in output
        fact["pgpass"] = "pgpass|1" in output
        fact["password_file"] = "password_file|1" in output
        for name, client, state, lag, replay in _tagged(output, "sender", 5):
            fact["senders"].append(
                {
                    "name": name,
                    "client": client,
                    "state": state,
                    "lag_bytes": int(lag),
                    "replay_lag_s": float(replay or 0),
                }
            )
        for name, active, wal_status in _tagged(output, "slot", 3):
            fact["slots"].append(
                {"name": name, "active": active in _TRUE, "wal_status": wal_status}
            )
        for status, sender in _tagged(output, "receiver", 2):
            fact["receiver"] = {"status": status, "sender_host": sender}
        for (age,) in _tagged(output, "heartbeat", 1):
            fact["heartbeat_age_s"] = round(float(age), 1) if age else None
        for (names,) in _tagged(output, "databases", 1):
            fact["databases"] = sorted(filter(None, names.split(",")))
        for (count,) in _tagged(output, "user_tables", 1):
            fact["user_tables"] = int(count)
        return fact


class PostgresDailyReport(FactBase):
    """
    The newest daily performance report written by ``hardening-pg-daily.timer``
    (``/var/lib/hardening/postgres/daily-<date>.json``), its age, and the timer's state.

    .. code:: python

        {"timer": "enabled", "file": "/var/lib/hardening/postgres/daily-2025-01-31.json",
         "age_s": 3600, "report": {"connections": 4, "cache_hit_ratio": 0.99,
                                   "top_statements": [...]}}
    """

    @staticmethod
    def default() -> dict:
        return {"timer": "", "file": "", "age_s": None, "report": None}

    def command(self) -> str:
        return (
            f'echo "#timer:$(systemctl is-enabled hardening-pg-daily.timer 2>/dev/null)";'
            f" f=$(ls -1 {DAILY_REPORT_DIR}/daily-*.json 2>/dev/null | tail -n 1);"
            ' if [ -n "$f" ]; then echo "#file:$f";'
            ' echo "#age:$(( $(date +%s) - $(stat -c %Y "$f") ))"; cat "$f"; echo; fi'
        )

    def process(self, output: list[str]) -> dict:
        fact = self.default()
        body = []
        for line in output:
            if line.startswith("#timer:"):
                fact["timer"] = line[len("#timer:") :]
            elif line.startswith("#file:"):
                fact["file"] = line[len("#file:") :]
            elif line.startswith("#age:"):
                fact["age_s"] = int(line[len("#age:") :])
            else:
                body.append(line)
        if fact["file"]:
            try:
                fact["report"] = json.loads("\n".join(body))
            except ValueError:
                fact["report"] = {"error": "not valid JSON"}
        return fact


#: libpq connection keywords the TLS facts report (never ``password``).
CONNINFO_KEYS = ("host", "hostaddr", "port", "user", "sslmode", "sslrootcert")
_CONNINFO_PAIR = re.compile(r"(\w+)\s*=\s*('(?:[^'\\]|\\.|'')*'|\S*)")
#: SQL: ``primary_conninfo`` with any password replaced on the host, before it is printed.
_MASKED_CONNINFO = (
    "regexp_replace(current_setting('primary_conninfo'),"
    " 'password\\s*=\\s*(''([^'']|'''')*''|\\S+)', 'password=***', 'g')"
)


def conninfo_fields(conninfo: str) -> dict[str, str]:
    """The ``CONNINFO_KEYS`` of a libpq conninfo string (quoted values unquoted).

    >>> conninfo_fields("host=db1 passfile='/x' sslmode=verify-full password=s3cret")
    {'host': 'db1', 'sslmode': 'verify-full'}
    """
    fields = {}
    for key, value in _CONNINFO_PAIR.findall(conninfo):
        if key in CONNINFO_KEYS:
            if value.startswith("'") and value.endswith("'") and len(value) > 1:
                value = value[1:-1].replace("''", "'").replace("\\'", "'")
            fields[key] = value
    return fields


class PostgresReplicationTls(FactBase):
    """
    TLS of streaming replication. On a primary: whether each WAL sender's connection uses
    TLS (``pg_stat_replication`` joined with ``pg_stat_ssl``). On a standby: the TLS
    parameters of the WAL receiver's live connection (``pg_stat_wal_receiver.conninfo``)
    and of ``primary_conninfo`` (only ``CONNINFO_KEYS``; a password never leaves the host).

    .. code:: python

        {"installed": True, "running": True,
         "senders": [{"client": "10.77.4.2", "name": "15/main", "ssl": True,
                      "version": "TLSv1.3"}],
         "receiver": {"host": "10.77.3.2", "port": "5432", "user": "replicator",
                      "sslmode": "verify-full", "sslrootcert": "/usr/local/share/..."},
         "configured": {"host": "10.77.3.2", "sslmode": "verify-full", ...}}
    """

    @staticmethod
    def default() -> dict:
        return {
            "installed": False,
            "running": False,
            "senders": [],
            "receiver": {},
            "configured": {},
        }

    def command(self) -> StringCommand:
        statements = (
            "SELECT 'sender|' || coalesce(host(r.client_addr), 'local') || '|'"
            " || r.application_name || '|' || coalesce(s.ssl, false) || '|'"
            " || coalesce(s.version, '') FROM pg_stat_replication r LEFT JOIN pg_stat_ssl s"
            " USING (pid)",
            "SELECT 'receiver|' || coalesce(conninfo, '') FROM pg_stat_wal_receiver",
            f"SELECT 'configured|' || {_MASKED_CONNINFO}",
        )
        return _psql_guarded(f"{_psql_lines(*statements)} || echo '{_DOWN}'")

    def process(self, output: list[str]) -> dict:
        fact = {**self.default(), **_state(output)}
        fact["senders"] = [
            {"client": client, "name": name, "ssl": ssl in _TRUE, "version": version}
            for client, name, ssl, version in _tagged(output, "sender", 4)
        ]
        for (conninfo,) in _tagged(output, "receiver", 1):
            fact["receiver"] = conninfo_fields(conninfo)
        for (conninfo,) in _tagged(output, "configured", 1):
            fact["configured"] = conninfo_fields(conninfo)
        return fact


class PostgresTlsProbe(FactBase):
    """
    Whether the PostgreSQL server (or pgBouncer) at ``address``:``port`` completes, from this
    host, a TLS handshake whose certificate ``ca_file`` verifies (``sslmode`` ``verify-full``
    also checks the name). ``pg_isready``: no login, nothing logged in, bounded by 5 s.

    .. code:: python

        True
    """

    default = bool

    def command(
        self, address: str, port: int = 5432, ca_file: str = "", sslmode: str = "verify-full"
    ) -> StringCommand:
        conninfo = f"host={address} port={int(port)} sslmode={sslmode} sslrootcert={ca_file}"
        return StringCommand(
            "if ! command -v pg_isready >/dev/null 2>&1; then echo '#absent'; else",
            "pg_isready -q -t 5 -d",
            QuoteString(conninfo),
            '; echo "#exit:$?"; fi',
        )

    def process(self, output: list[str]) -> bool:
        return "#exit:0" in output
