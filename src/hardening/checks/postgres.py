"""PostgreSQL checks: replication (DB-03), pooling (DB-04), query logging (DB-05), indexes
(DB-06), query monitoring (DB-07), resource limits (DB-08), connections (DEP-07), the daily
report (OPS-D-03) and slow queries (OPS-W-05)."""

from __future__ import annotations

from functools import partial

from hardening.checks import HostContext, check
from hardening.facts.envfile import EnvFileSummary
from hardening.facts.network import ListeningSockets
from hardening.facts.pgbouncer import PgbouncerConfig
from hardening.facts.postgres import (
    PostgresConnections,
    PostgresDailyReport,
    PostgresReplication,
    PostgresServiceLimits,
    PostgresSettings,
    PostgresStatements,
    PostgresTableStats,
)
from hardening.results import Outcome
from hardening.settings import default

FIX = "run deploys/postgres.py (pgBouncer in front of PostgreSQL)"


@check("postgres.pooling")
def pooling(ctx: HostContext) -> Outcome:
    """pgBouncer runs, listens, has databases and a pool mode; the app's DSN goes through it."""
    bouncer = ctx.fact(PgbouncerConfig)
    if not bouncer["installed"]:
        return Outcome.failed("pgBouncer is not installed", fix=FIX)
    settings = bouncer["config"].get("pgbouncer", {})
    databases = bouncer["config"].get("databases", {})
    port = int(settings.get("listen_port", 6432))
    wanted_port = ctx.setting("pgbouncer_port", default("pgbouncer_port"))
    listening = any(
        entry["port"] == port and entry["proto"] == "tcp" for entry in ctx.fact(ListeningSockets)
    )
    evidence = [
        f"pgbouncer {'active' if bouncer['active'] else 'inactive'}",
        f"listen_port={port}" + (" (listening)" if listening else " (not listening)"),
        f"pool_mode={settings.get('pool_mode', 'session (default)')}",
        f"databases: {', '.join(sorted(databases)) or 'none'}",
    ]
    problems = []
    if not bouncer["active"] or not listening:
        problems.append("pgBouncer is not running")
    if not databases:
        problems.append("no [databases] entries: clients cannot be pooled")
    if port != wanted_port:
        problems.append(f"listens on {port}, inventory says pgbouncer_port={wanted_port}")
    path = ctx.setting("app_env_file", default("app_env_file"))
    if path:
        var = ctx.setting("app_database_url_var", default("app_database_url_var"))
        url = ((ctx.fact(EnvFileSummary, path=path) or {}).get(var) or {}).get("url")
        if not url:
            problems.append(f"{var} in {path} is missing or not a URL")
        elif url["port"] != port:
            problems.append(f"{var} points at port {url['port']}, not pgBouncer's {port}")
        else:
            evidence.append(f"{var} -> {url['host']}:{url['port']} (through pgBouncer)")
    if problems:
        return Outcome.failed("; ".join(problems + evidence), fix=FIX)
    return Outcome.passed("; ".join(evidence))


FIX_PG = "run deploys/postgres.py"


#: fail with the problems first, else pass; evidence either way (``Outcome.judge``)
_judge = partial(Outcome.judge, fix=FIX_PG)


def _settings(ctx: HostContext) -> dict | Outcome:
    """The server's settings, or a failed outcome when PostgreSQL is not running."""
    fact = ctx.fact(PostgresSettings)
    if not fact["running"]:
        state = "not installed" if not fact["installed"] else "not running"
        return Outcome.failed(f"PostgreSQL is {state}", fix=FIX_PG)
    return fact["settings"]


def _compare(settings: dict, wanted: dict) -> tuple[list[str], list[str]]:
    """(problems, evidence) of ``{name: predicate-or-value}`` against the server's settings."""
    problems, evidence = [], []
    for name, want in wanted.items():
        value = settings.get(name, "?")
        good = want(value) if callable(want) else value == want
        (evidence if good else problems).append(f"{name}={value}")
    return problems, evidence


def _positive(value: object) -> bool:
    return isinstance(value, int) and value > 0


@check("postgres.query_logging")
def query_logging(ctx: HostContext) -> Outcome:
    """Connections, slow statements (over postgres_log_min_duration_ms), lock waits, temp
    files are logged with a useful prefix."""
    settings = _settings(ctx)
    if isinstance(settings, Outcome):
        return settings
    limit = ctx.setting("postgres_log_min_duration_ms", default("postgres_log_min_duration_ms"))
    problems, evidence = _compare(
        settings,
        {
            "log_connections": "on",
            "log_disconnections": "on",
            "log_min_duration_statement": lambda v: isinstance(v, int) and 0 <= v <= limit,
            "log_lock_waits": "on",
            "log_temp_files": lambda v: isinstance(v, int) and v >= 0,
            "log_line_prefix": lambda v: "%p" in str(v) and ("%m" in str(v) or "%t" in str(v)),
        },
    )
    return _judge(problems, evidence)


@check("postgres.query_monitoring")
def query_monitoring(ctx: HostContext) -> Outcome:
    """pg_stat_statements is preloaded and created; I/O timing is tracked."""
    settings = _settings(ctx)
    if isinstance(settings, Outcome):
        return settings
    problems, evidence = _compare(
        settings,
        {
            "shared_preload_libraries": lambda v: "pg_stat_statements" in str(v),
            "track_io_timing": "on",
        },
    )
    statements = ctx.fact(PostgresStatements)
    if statements["extension"] == "ok":
        evidence.append(f"pg_stat_statements: {len(statements['statements'])} top statements")
    else:
        problems.append(f"pg_stat_statements extension {statements['extension']}")
    return _judge(problems, evidence)


@check("postgres.resource_limits")
def resource_limits(ctx: HostContext) -> Outcome:
    """max_connections, timeouts, work_mem and shared_buffers as the inventory says;
    the unit's LimitNOFILE (and MemoryMax when declared)."""
    settings = _settings(ctx)
    if isinstance(settings, Outcome):
        return settings

    def want(key: str) -> object:
        return ctx.setting(key, default(key))

    problems, evidence = _compare(
        settings,
        {
            "max_connections": want("postgres_max_connections"),
            "statement_timeout": want("postgres_statement_timeout_ms"),
            "idle_in_transaction_session_timeout": want("postgres_idle_in_transaction_timeout_ms"),
            "work_mem": want("postgres_work_mem_mb") * 1024,
            "shared_buffers": lambda v: (
                isinstance(v, int)
                and v > 128 * 1024
                or v == 128 * 1024
                and want("postgres_shared_buffers_max_mb") <= 128
            ),
        },
    )
    for name in ("statement_timeout", "idle_in_transaction_session_timeout"):
        if not _positive(settings.get(name)) and f"{name}=0" not in problems:
            problems.append(f"{name} is unlimited")
    limits = ctx.fact(PostgresServiceLimits)
    nofile = limits["LimitNOFILE"]
    wanted_nofile = want("postgres_limit_nofile")
    if nofile.isdigit() and int(nofile) == wanted_nofile:
        evidence.append(f"LimitNOFILE={nofile}")
    else:
        problems.append(f"LimitNOFILE={nofile or '?'} (inventory: {wanted_nofile})")
    if want("postgres_memory_max"):
        target = problems if limits["MemoryMax"] in ("", "infinity") else evidence
        target.append(f"MemoryMax={limits['MemoryMax'] or '?'}")
    return _judge(problems, evidence)


@check("postgres.index_usage")
def index_usage(ctx: HostContext) -> Outcome:
    """Big tables read mostly by sequential scans need an index on declared columns."""
    fact = ctx.fact(PostgresTableStats)
    if not fact["running"]:
        return Outcome.failed("PostgreSQL is not running: table statistics unavailable", FIX_PG)
    min_rows = ctx.setting("postgres_seq_scan_min_rows", default("postgres_seq_scan_min_rows"))
    declared = {
        (d.get("database", "postgres"), d["table"].split(".")[-1], d["name"])
        for d in ctx.setting("postgres_indexes", default("postgres_indexes"))
    }
    problems, evidence = [], []
    for table in fact["tables"]:
        scans = table["seq_scan"] + table["idx_scan"]
        if table["rows"] < min_rows or not scans or table["seq_scan"] * 2 <= scans:
            continue
        short = table["table"].split(".")[-1]
        covering = [
            name
            for database, name_table, name in declared
            if database == table["database"] and name_table == short and name in table["indexes"]
        ]
        finding = (
            f"{table['database']}.{table['table']}: {table['rows']} rows,"
            f" {table['seq_scan']} seq / {table['idx_scan']} index scans"
        )
        if covering:
            evidence.append(f"{finding} (declared index {', '.join(covering)} exists)")
        else:
            problems.append(f"{finding}, no declared index")
    unused = [f"{i['database']}.{i['index']} ({i['size']})" for i in fact["unused_indexes"]]
    if unused:
        evidence.append("never-used indexes: " + ", ".join(unused[:10]))
    if not problems and not evidence:
        evidence.append(
            f"{len(fact['tables'])} user tables, none over {min_rows} rows mostly seq-scanned"
        )
    return _judge(problems, evidence, fix="declare indexes in postgres_indexes, then " + FIX_PG)


@check("postgres.connections")
def connections(ctx: HostContext) -> Outcome:
    """PostgreSQL accepts connections directly and pgBouncer routes them; usage < 80 %."""
    fact = ctx.fact(
        PostgresConnections, pgbouncer_port=ctx.setting("pgbouncer_port", default("pgbouncer_port"))
    )
    databases = ctx.fact(PgbouncerConfig)["config"].get("databases", {})
    problems, evidence = [], []
    if not fact["direct"]:
        problems.append("cannot connect to PostgreSQL directly")
    else:
        usable = max(fact["max_connections"] - fact["reserved"], 1)
        usage = 100 * fact["clients"] / usable
        text = f"{fact['clients']}/{usable} connections ({usage:.0f} %)"
        (problems if usage >= 80 else evidence).append(text)
    if fact["pgbouncer"] and databases:
        evidence.append(f"pgBouncer accepts logins, routes {', '.join(sorted(databases))}")
    else:
        problems.append("pgBouncer " + ("has no [databases]" if fact["pgbouncer"] else "refuses"))
    return _judge(problems, evidence)


@check("postgres.replication")
def replication(ctx: HostContext) -> Outcome:
    """Primary: a standby streams through an active slot within the lag thresholds.
    Standby: in recovery, WAL receiver streaming, heartbeat recent."""
    fact = ctx.fact(PostgresReplication)
    if not fact["running"]:
        return Outcome.failed("PostgreSQL is not running", fix=FIX_PG)
    max_bytes = ctx.setting(
        "postgres_replication_max_lag_bytes", default("postgres_replication_max_lag_bytes")
    )
    max_s = ctx.setting(
        "postgres_replication_max_lag_seconds", default("postgres_replication_max_lag_seconds")
    )
    problems, evidence = [], []
    age = fact["heartbeat_age_s"]
    if age is None or age > max_s:
        problems.append(f"heartbeat {'missing' if age is None else f'{age} s old'}")
    else:
        evidence.append(f"heartbeat {age} s old")
    if fact["in_recovery"]:
        status = fact["receiver"].get("status", "none")
        sender = fact["receiver"].get("sender_host", "")
        (evidence if status == "streaming" else problems).append(
            f"standby, WAL receiver {status} from {sender or '?'}"
        )
        return _judge(problems, evidence)
    streaming = [s for s in fact["senders"] if s["state"] == "streaming"]
    if not streaming:
        problems.append("primary without a streaming standby")
    for sender in streaming:
        text = (
            f"standby {sender['client']} streaming, lag {sender['lag_bytes']} B"
            f" / {sender['replay_lag_s']:.1f} s"
        )
        too_far = sender["lag_bytes"] > max_bytes or sender["replay_lag_s"] > max_s
        (problems if too_far else evidence).append(text)
    for slot in fact["slots"]:
        text = f"slot {slot['name']} {'active' if slot['active'] else 'inactive'}"
        good = slot["active"] and slot["wal_status"] in ("reserved", "extended")
        (evidence if good else problems).append(f"{text} ({slot['wal_status']})")
    if not fact["slots"]:
        problems.append("no replication slot")
    return _judge(problems, evidence)


@check("postgres.daily_performance")
def daily_performance(ctx: HostContext) -> Outcome:
    """The daily report timer is enabled and its newest report is under 26 h old."""
    fact = ctx.fact(PostgresDailyReport)
    if fact["timer"] != "enabled":
        return Outcome.failed("hardening-pg-daily.timer is not installed", fix=FIX_PG)
    report = fact["report"]
    if not report:
        return Outcome.pending("the daily report timer has not run yet")
    if "error" in report or fact["age_s"] > 26 * 3600:
        return Outcome.failed(
            f"last report {fact['file']} is {fact['age_s'] // 3600} h old or unreadable",
            fix="systemctl status hardening-pg-daily.service",
        )
    return Outcome.passed(
        f"{fact['file']} ({fact['age_s'] // 60} min old): {report.get('connections')} "
        f"connections, cache hit ratio {report.get('cache_hit_ratio')}, "
        f"{len(report.get('top_statements') or [])} top statements"
    )


@check("postgres.slow_queries")
def slow_queries(ctx: HostContext) -> Outcome:
    """No statement's mean time exceeds log_min_duration_statement unless acknowledged."""
    fact = ctx.fact(PostgresStatements)
    if fact["extension"] != "ok":
        return Outcome.failed(
            f"cannot see slow queries: pg_stat_statements {fact['extension']}", fix=FIX_PG
        )
    limit = ctx.setting("postgres_log_min_duration_ms", default("postgres_log_min_duration_ms"))
    acknowledged = set(
        ctx.setting(
            "postgres_slow_queries_acknowledged", default("postgres_slow_queries_acknowledged")
        )
    )
    slow = [s for s in fact["statements"] if s["mean_ms"] > limit]
    open_ = [s for s in slow if s["queryid"] not in acknowledged]
    described = [
        f"{s['queryid']}: {s['mean_ms']} ms x{s['calls']} {s['query'][:80]}" for s in open_
    ]
    if open_:
        return Outcome.failed(
            f"{len(open_)} statements slower than {limit} ms: " + "; ".join(described),
            fix="optimize them or list their queryids in postgres_slow_queries_acknowledged",
        )
    return Outcome.passed(f"no unacknowledged statement over {limit} ms ({len(slow)} acknowledged)")
