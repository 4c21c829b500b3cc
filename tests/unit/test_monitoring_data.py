"""Alert rules that have data: the batched series fact and the alert checks' data verdict
(fail only where the inventory declares the metric's source), on canned facts."""

from __future__ import annotations

import json
from urllib.parse import unquote

from hardening.alert_rules import by_item
from hardening.catalog import CATALOG
from hardening.checks.monitoring import RULE_METRICS, data_expected, metric_source
from hardening.facts.prometheus import PrometheusSeries
from hardening.results import Status
from tests.unit.test_monitoring import CHECKS, TARGETS, context

ANSWER = {
    "status": "success",
    "data": {
        "resultType": "vector",
        "result": [
            {"metric": {"__name__": "up"}, "value": [1764284000.1, "9"]},
            {"metric": {"__name__": "redis_up"}, "value": [1764284000.1, "1"]},
        ],
    },
}


def targets(*jobs: tuple[str, str]) -> dict:
    """The fixture's targets plus ``(job, health)`` on tb1."""
    extra = [
        {"job": job, "instance": f"tb1:{job}", "host": "tb1", "health": health, "last_error": ""}
        for job, health in jobs
    ]
    return {"reachable": True, "targets": TARGETS["targets"] + extra}


def series(*missing: str) -> dict:
    return {"reachable": True, "series": {n: 1 for n in RULE_METRICS if n not in missing}}


def judge(item: str, **facts) -> tuple[Status, str]:
    """Status and evidence of ``item``'s check on tb1 with ``facts`` replaced."""
    outcome = CHECKS[next(i.check for i in CATALOG if i.id == item)](context(**facts))
    return outcome.status, outcome.evidence


def test_series_fact_asks_one_batched_query_and_parses_the_counts() -> None:
    command = PrometheusSeries().command(names=("up", "redis_up")).get_raw_value()
    assert 'count by (__name__)({__name__=~"redis_up|up"})' in unquote(command)
    assert command.count("/api/v1/query?query=") == 2  # https first, then http
    parsed = PrometheusSeries().process([json.dumps(ANSWER)])
    assert parsed == {"reachable": True, "series": {"up": 9, "redis_up": 1}}
    assert PrometheusSeries().process(["#down"]) == PrometheusSeries.default()


def test_every_rule_metric_has_a_documented_source_or_none() -> None:
    assert metric_source("node_cpu_seconds_total") == "node"
    assert metric_source("redis_rejected_connections_total") == "redis"
    assert metric_source("websocket_connections_total") == "app"
    assert metric_source("backup_last_exit_code") == "backup"
    assert metric_source("deployment_timestamp_seconds") == "deploy"
    assert metric_source("log_messages_total") == "logs"
    assert data_expected("", [])[0] is False
    assert data_expected("prometheus", [])[0] is True
    app_down = targets(("app", "down"))["targets"]
    assert data_expected("app", app_down) == (
        False,
        "no app target is up (no web host has the app deployed)",
    )
    assert data_expected("redis", targets(("redis", "down"))["targets"])[0] is True


def test_expected_metric_without_series_fails_the_item() -> None:
    facts = {
        "PrometheusTargets": targets(("redis", "up")),
        "PrometheusSeries": series("redis_rejected_connections_total"),
    }
    status, evidence = judge("MON-WARN-04", **facts)
    assert status is Status.FAIL
    assert (
        "rule RedisConnectionFailures reads redis_rejected_connections_total: no series in"
        " Prometheus (is its exporter/app scraped?)"
    ) in evidence
    assert judge("MON-WARN-04", **{**facts, "PrometheusSeries": series()})[0] is Status.PASS


def test_source_not_declared_keeps_the_rule_verdict_and_says_so() -> None:
    # no redis job: no cache host in the inventory
    status, evidence = judge("MON-WARN-04", PrometheusSeries=series("redis_up"))
    assert status is Status.PASS
    assert "redis_up: data not expected (no redis scrape target" in evidence
    status, evidence = judge("MON-INFO-02", PrometheusSeries=series("backup_last_exit_code"))
    assert status is Status.PASS
    assert "backup_last_exit_code: data not expected" in evidence


def test_app_items_need_data_once_the_app_is_scraped() -> None:
    spec = by_item()["MON-CRIT-06"]
    missing = series("websocket_connections_total")
    down = judge(
        "MON-CRIT-06", PrometheusTargets=targets(("app", "down")), PrometheusSeries=missing
    )
    assert down[0] is Status.PASS and "data not expected (no app target is up" in down[1]
    up = judge("MON-CRIT-06", PrometheusTargets=targets(("app", "up")), PrometheusSeries=missing)
    assert up[0] is Status.FAIL
    assert f"rule {spec.alert} reads websocket_connections_total: no series" in up[1]
    assert "websocket_disconnections_total" not in up[1].split(";")[0]


def test_node_metrics_are_always_expected_and_an_unanswered_query_fails() -> None:
    status, evidence = judge("MON-CRIT-03", PrometheusSeries=series("node_memory_MemTotal_bytes"))
    assert status is Status.FAIL and "reads node_memory_MemTotal_bytes: no series" in evidence
    down = judge("MON-CRIT-03", PrometheusSeries=PrometheusSeries.default())
    assert down[0] is Status.FAIL and "did not answer the series query" in down[1]
