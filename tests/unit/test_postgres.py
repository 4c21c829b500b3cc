"""PostgreSQL facts parsed from captured output, and checks judged on canned facts."""

from __future__ import annotations

from typing import Any

from hardening.checks import HostContext, registry
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
from hardening.results import Status
from hardening.settings import validate_host_data

CHECKS = registry()


def context(facts: dict[type, Any], groups=("db_primary",), **data: Any) -> HostContext:
    def getter(fact_class: type, **kwargs: Any) -> Any:
        return facts.get(fact_class, fact_class.default())

    return HostContext("db1", tuple(groups), data, getter)


def settings(**values: Any) -> dict:
    lines = [f"setting|{name}|{unit}|f|{value}" for name, (unit, value) in values.items()]
    return PostgresSettings().process(lines)


HARDENED = settings(
    log_connections=("", "on"),
    log_disconnections=("", "on"),
    log_min_duration_statement=("ms", "1000"),
    log_lock_waits=("", "on"),
    log_temp_files=("kB", "0"),
    log_line_prefix=("", "%m [%p] %q%u@%d/%a from %h "),
    shared_preload_libraries=("", "pg_stat_statements"),
    track_io_timing=("", "on"),
    max_connections=("", "100"),
    statement_timeout=("ms", "60000"),
    idle_in_transaction_session_timeout=("ms", "300000"),
    work_mem=("kB", "16384"),
    shared_buffers=("8kB", "131072"),
)


def test_settings_are_normalised_and_conninfo_is_masked() -> None:
    fact = PostgresSettings().process(
        [
            "setting|shared_buffers|8kB|true|16384",
            "setting|log_min_duration_statement|ms|false|-1",
            "setting|primary_conninfo|||user=replicator password=s3cret host=db1",
        ]
    )
    assert fact["settings"]["shared_buffers"] == 131072
    assert fact["settings"]["log_min_duration_statement"] == -1
    assert "s3cret" not in fact["settings"]["primary_conninfo"]
    assert fact["pending_restart"] == ["shared_buffers"]
    assert PostgresSettings().process(["#down"])["running"] is False


def test_replication_fact_parses_primary_and_standby_lines() -> None:
    primary = PostgresReplication().process(
        [
            "recovery|false",
            "sender|15/main|10.77.4.2|streaming|128|0.25",
            "slot|tb2|true|reserved",
            "heartbeat|4.21",
            "role|1",
            "databases|postgres",
            "user_tables|0",
            "password_file|1",
        ]
    )
    assert primary["senders"][0]["lag_bytes"] == 128 and primary["slots"][0]["active"]
    assert primary["heartbeat_age_s"] == 4.2 and primary["password_file"]
    standby = PostgresReplication().process(["recovery|true", "receiver|streaming|10.0.0.1"])
    assert standby["in_recovery"] and standby["receiver"]["status"] == "streaming"


def test_table_stats_and_statements_parse() -> None:
    tables = PostgresTableStats().process(
        [
            "table|app|public.orders|20000|5|0|orders_pkey:id,orders_c_idx:customer_id+day",
            "unused|app|public.orders_c_idx|public.orders|16 kB",
            "#ok",
        ]
    )
    assert tables["tables"][0]["indexes"]["orders_c_idx"] == ["customer_id", "day"]
    assert tables["unused_indexes"][0]["size"] == "16 kB"
    statements = PostgresStatements().process(
        ["ext|1", "stmt|42|3|1500.5|4501.5|SELECT a | b FROM t WHERE x = '***'"]
    )
    assert statements["extension"] == "ok"
    assert statements["statements"][0]["query"] == "SELECT a | b FROM t WHERE x = '***'"
    assert PostgresStatements().process(["ext|1", "#not-loaded"])["extension"] == "not-loaded"


def test_logging_monitoring_and_limits_pass_when_hardened() -> None:
    ctx = context(
        {
            PostgresSettings: HARDENED,
            PostgresStatements: {"running": True, "extension": "ok", "statements": []},
            PostgresServiceLimits: {"LimitNOFILE": "65536", "MemoryMax": "infinity"},
        }
    )
    for name in ("query_logging", "query_monitoring", "resource_limits", "slow_queries"):
        outcome = CHECKS[f"postgres.{name}"](ctx)
        assert outcome.status is Status.PASS, (name, outcome.evidence)


def test_default_settings_fail_with_the_observed_values() -> None:
    fresh = settings(log_connections=("", "off"), statement_timeout=("ms", "0"))
    ctx = context({PostgresSettings: fresh, PostgresServiceLimits: {"LimitNOFILE": "524288"}})
    logging = CHECKS["postgres.query_logging"](ctx)
    assert logging.status is Status.FAIL and "log_connections=off" in logging.evidence
    limits = CHECKS["postgres.resource_limits"](ctx)
    assert limits.status is Status.FAIL and "statement_timeout=0" in limits.evidence
    assert "LimitNOFILE=524288" in limits.evidence


def test_seq_scan_heavy_table_fails_until_its_declared_index_exists() -> None:
    table = {"database": "postgres", "table": "public.orders", "rows": 20000}
    stats = {"running": True, "unused_indexes": []}
    bare = {**stats, "tables": [{**table, "seq_scan": 9, "idx_scan": 1, "indexes": {}}]}
    outcome = CHECKS["postgres.index_usage"](context({PostgresTableStats: bare}))
    assert outcome.status is Status.FAIL and "20000 rows" in outcome.evidence
    indexed = {
        **stats,
        "tables": [{**table, "seq_scan": 9, "idx_scan": 1, "indexes": {"o_idx": ["c"]}}],
    }
    declared = [{"table": "public.orders", "columns": ["c"], "name": "o_idx"}]
    outcome = CHECKS["postgres.index_usage"](
        context({PostgresTableStats: indexed}, postgres_indexes=declared)
    )
    assert outcome.status is Status.PASS and "o_idx exists" in outcome.evidence


def test_replication_judges_lag_slots_and_heartbeat() -> None:
    streaming = PostgresReplication().process(
        ["recovery|f", "sender|s|10.0.0.2|streaming|0|0.1", "slot|s|t|reserved", "heartbeat|3"]
    )
    assert (
        CHECKS["postgres.replication"](context({PostgresReplication: streaming})).status
        is Status.PASS
    )
    lagging = PostgresReplication().process(
        ["recovery|f", "sender|s|10.0.0.2|streaming|999999999|90", "slot|s|f|lost"]
    )
    outcome = CHECKS["postgres.replication"](context({PostgresReplication: lagging}))
    assert outcome.status is Status.FAIL
    assert "heartbeat missing" in outcome.evidence and "slot s inactive" in outcome.evidence


def test_slow_queries_pass_when_acknowledged() -> None:
    slow = {
        "running": True,
        "extension": "ok",
        "statements": [{"queryid": "7", "calls": 2, "mean_ms": 1500.0, "query": "SELECT 1"}],
    }
    assert CHECKS["postgres.slow_queries"](context({PostgresStatements: slow})).status is (
        Status.FAIL
    )
    acknowledged = context({PostgresStatements: slow}, postgres_slow_queries_acknowledged=["7"])
    assert CHECKS["postgres.slow_queries"](acknowledged).status is Status.PASS


def test_connections_and_daily_report() -> None:
    busy = {
        **PostgresConnections.default(),
        "running": True,
        "direct": True,
        "clients": 90,
        "max_connections": 100,
        "reserved": 3,
        "pgbouncer": True,
    }
    pooled = {"installed": True, "active": True, "config": {"databases": {"*": "host=x"}}}
    outcome = CHECKS["postgres.connections"](
        context({PostgresConnections: busy, PgbouncerConfig: pooled})
    )
    assert outcome.status is Status.FAIL and "90/97" in outcome.evidence
    report = PostgresDailyReport().process(
        ["#timer:enabled", "#file:/x/daily-1.json", "#age:60", '{"connections": 2}']
    )
    outcome = CHECKS["postgres.daily_performance"](context({PostgresDailyReport: report}))
    assert outcome.status is Status.PASS and "2 connections" in outcome.evidence
    pending = PostgresDailyReport().process(["#timer:enabled"])
    assert CHECKS["postgres.daily_performance"](context({PostgresDailyReport: pending})).status is (
        Status.PENDING
    )


def test_index_declarations_are_validated() -> None:
    assert (
        validate_host_data({"postgres_indexes": [{"table": "t", "columns": ["c"], "name": "i"}]})
        == []
    )
    assert validate_host_data({"postgres_indexes": [{"table": "t"}]})
    assert validate_host_data({"postgres_client_networks": "10.0.0.0/8"})
