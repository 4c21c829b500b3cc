"""PERF-02/03/04 and INF-07 judged on canned facts; fact parsers on captured output."""

from __future__ import annotations

from typing import Any

from hardening.checks import HostContext, registry
from hardening.facts.performance import OtlpCollector, QueryTimings, ServiceMemory
from hardening.facts.postgres import PostgresStatements, PostgresTableStats
from hardening.results import Status

CHECKS = registry()


def ctx(facts: dict[type, Any], **data: Any) -> HostContext:
    return HostContext("h", ("web", "db_primary"), data, lambda cls, **kw: facts[cls])


def test_parsers() -> None:
    memory = ServiceMemory().process(["#pid:812", "#rss:20480", "#rss:20992"])
    assert memory == {"running": True, "pid": 812, "rss_kb": [20480, 20992]}
    assert ServiceMemory().process(["#pid:0"])["running"] is False
    plan = '[  {    "Plan": {},    "Planning Time": 0.1,    "Execution Time": 1.25  }]'
    timings = QueryTimings().process(["#query:one", plan, "#query:one", "ERROR: boom", "#ok"])
    assert timings["queries"]["one"] == {"ms": [1.25], "error": "ERROR: boom"}
    collector = OtlpCollector().process(["#endpoint:http://c:4318", "#status:200"])
    assert collector == {"endpoint": "http://c:4318", "status": 200}


def test_query_benchmark_declared_and_tracked() -> None:
    fast = {QueryTimings: {"running": True, "queries": {"q": {"ms": [2, 3, 2], "error": ""}}}}
    declared = [{"name": "q", "sql": "SELECT 1"}]
    assert (
        CHECKS["perf.db_query_benchmark"](ctx(fast, perf_benchmark_queries=declared)).status
        is Status.PASS
    )
    slow = {QueryTimings: {"running": True, "queries": {"q": {"ms": [300] * 3, "error": ""}}}}
    assert (
        CHECKS["perf.db_query_benchmark"](ctx(slow, perf_benchmark_queries=declared)).status
        is Status.FAIL
    )
    tracked = {
        PostgresStatements: {
            "extension": "ok",
            "statements": [{"mean_ms": 2.0, "calls": 5, "query": "SELECT $1"}],
        }
    }
    assert CHECKS["perf.db_query_benchmark"](ctx(tracked)).status is Status.PASS
    missing = {PostgresStatements: {"extension": "missing", "statements": []}}
    assert CHECKS["perf.db_query_benchmark"](ctx(missing)).status is Status.FAIL


def test_memory_profile() -> None:
    small = {ServiceMemory: {"running": True, "pid": 3, "rss_kb": [20000, 21000]}}
    assert CHECKS["perf.memory_profile"](ctx(small)).status is Status.PASS
    big = {ServiceMemory: {"running": True, "pid": 3, "rss_kb": [900_000]}}
    assert CHECKS["perf.memory_profile"](ctx(big)).status is Status.FAIL
    absent = {ServiceMemory: {"running": False, "pid": 0, "rss_kb": []}}
    assert CHECKS["perf.memory_profile"](ctx(absent)).status is Status.FAIL


def test_data_volume() -> None:
    stats = {
        PostgresTableStats: {
            "tables": [{"database": "postgres", "table": "public.accounts", "rows": 200000}]
        }
    }
    enough = ctx(stats, perf_min_rows={"postgres/public.accounts": 100000})
    assert CHECKS["perf.data_volume"](enough).status is Status.PASS
    short = ctx(stats, perf_min_rows={"postgres/public.accounts": 500000})
    assert CHECKS["perf.data_volume"](short).status is Status.FAIL
    assert CHECKS["perf.data_volume"](ctx(stats)).status is Status.FAIL


def test_tracing() -> None:
    answering = {OtlpCollector: {"endpoint": "http://c:4318", "status": 200}}
    assert (
        CHECKS["tracing.otlp"](ctx(answering, app_otlp_endpoint="http://c:4318")).status
        is Status.PASS
    )
    silent = {OtlpCollector: {"endpoint": "http://c:4318", "status": 0}}
    outcome = CHECKS["tracing.otlp"](ctx(silent, app_otlp_endpoint="http://c:4318"))
    assert outcome.status is Status.FAIL and "no answer" in outcome.evidence
    assert CHECKS["tracing.otlp"](ctx({})).status is Status.FAIL
