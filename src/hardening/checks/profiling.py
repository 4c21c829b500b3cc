"""Performance items measured on the hosts: PERF-02 query benchmark, PERF-03 memory
profile, PERF-04 realistic data volumes, INF-07 distributed tracing."""

from __future__ import annotations

import json
import statistics

from hardening.checks import HostContext, check
from hardening.facts.performance import OtlpCollector, QueryTimings, ServiceMemory
from hardening.facts.postgres import PostgresStatements, PostgresTableStats
from hardening.results import Outcome
from hardening.settings import default


def _setting(ctx: HostContext, key: str):
    return ctx.setting(key, default(key))


@check("perf.db_query_benchmark")
def db_query_benchmark(ctx: HostContext) -> Outcome:
    """Declared queries (or the slowest tracked statements) run under the time budget."""
    budget = _setting(ctx, "perf_query_max_ms")
    declared = _setting(ctx, "perf_benchmark_queries")
    if declared:
        timings = ctx.fact(QueryTimings, queries=json.dumps(declared, sort_keys=True))
        if not timings["running"]:
            return Outcome.failed("PostgreSQL is not running: the queries cannot be timed")
        problems, seen = [], []
        for name, result in sorted(timings["queries"].items()):
            if result["error"] or not result["ms"]:
                problems.append(f"{name}: {result['error'] or 'no timing'}")
                continue
            median = statistics.median(result["ms"])
            line = f"{name} median {median:.1f} ms over {len(result['ms'])} runs"
            (problems if median > budget else seen).append(line)
        evidence = "; ".join(problems + seen) + f" (budget {budget} ms)"
        if problems:
            return Outcome.failed(evidence, fix="optimise the queries or their indexes")
        return Outcome.passed(evidence)
    statements = ctx.fact(PostgresStatements, exclude_superusers=True)
    if statements["extension"] != "ok":
        return Outcome.failed(
            f"no declared queries (perf_benchmark_queries) and pg_stat_statements is "
            f"{statements['extension']}",
            fix="declare perf_benchmark_queries or run deploys/postgres.py",
        )
    slow = [s for s in statements["statements"] if s["mean_ms"] > budget]
    top = statements["statements"][:3]
    evidence = "slowest tracked (superusers' maintenance excluded): " + (
        "; ".join(f"{s['mean_ms']:.1f} ms mean x{s['calls']}: {s['query'][:60]}" for s in top)
        or "none yet"
    )
    if slow:
        return Outcome.failed(
            f"{len(slow)} statement(s) above {budget} ms; {evidence}", fix="optimise them"
        )
    return Outcome.passed(f"no tracked statement above {budget} ms mean; {evidence}")


@check("perf.memory_profile")
def memory_profile(ctx: HostContext) -> Outcome:
    """The application's resident memory, sampled, stays under its limit."""
    service = _setting(ctx, "app_service")
    limit_mb = _setting(ctx, "perf_app_memory_max_mb")
    memory = ctx.fact(ServiceMemory, service=service)
    if not memory["running"]:
        return Outcome.failed(
            f"{service} is not running: no memory to profile", fix="run deploys/app.py"
        )
    samples = [kb / 1024 for kb in memory["rss_kb"]]
    evidence = (
        f"{service} (pid {memory['pid']}) RSS over {len(samples)} samples: min "
        f"{min(samples):.1f} MB, max {max(samples):.1f} MB (limit {limit_mb} MB)"
    )
    if max(samples) > limit_mb:
        return Outcome.failed(evidence, fix="find what holds memory; raise the limit knowingly")
    return Outcome.passed(evidence)


@check("perf.data_volume")
def data_volume(ctx: HostContext) -> Outcome:
    """Declared tables hold at least their realistic row counts."""
    minimums = _setting(ctx, "perf_min_rows")
    if not minimums:
        return Outcome.failed(
            "no realistic data volumes declared (perf_min_rows: {'db/schema.table': rows})",
            fix="declare the row counts production will have and load test data to match",
        )
    stats = ctx.fact(PostgresTableStats)
    rows = {f"{t['database']}/{t['table']}": t["rows"] for t in stats["tables"]}
    problems, seen = [], []
    for table, wanted in sorted(minimums.items()):
        have = rows.get(table)
        if have is None:
            problems.append(f"{table} not found")
        elif have < int(wanted):
            problems.append(f"{table} has {have} rows, fewer than {wanted}")
        else:
            seen.append(f"{table} {have} rows (>= {wanted})")
    return Outcome.judge(problems, seen, fix="load realistic data volumes before testing")


@check("tracing.otlp")
def distributed_tracing(ctx: HostContext) -> Outcome:
    """The declared OTLP/HTTP collector answers from the web host."""
    endpoint = _setting(ctx, "app_otlp_endpoint")
    if not endpoint:
        return Outcome.failed(
            "no tracing collector declared (app_otlp_endpoint)",
            fix="run an OpenTelemetry collector and set app_otlp_endpoint; deploys/app.py "
            "passes it to the application as OTLP_ENDPOINT",
        )
    collector = ctx.fact(OtlpCollector, endpoint=endpoint)
    if 200 <= collector["status"] < 300:
        return Outcome.passed(f"OTLP collector at {endpoint} accepted an export (HTTP 200)")
    status = collector["status"] or "no answer"
    return Outcome.failed(
        f"OTLP collector at {endpoint}: {status}", fix="check the collector and the firewall"
    )
