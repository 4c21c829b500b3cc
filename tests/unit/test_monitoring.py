"""Monitoring: alert data against the catalog, templates, fact parsers on captured
Prometheus API answers, and the checks on canned facts."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from hardening.alert_rules import ALERTS, by_item
from hardening.catalog import CATALOG
from hardening.checks import HostContext, registry
from hardening.checks.monitoring import RULE_METRICS
from hardening.deploys.monitoring import scrape_jobs
from hardening.facts.prometheus import (
    DashboardFile,
    PrometheusRules,
    PrometheusSeries,
    PrometheusServer,
    PrometheusTargets,
)
from hardening.operations.monitoring import dashboard, render_dashboard, render_rules
from hardening.results import Status

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CHECKS = registry()
SECTION_SEVERITY = {
    "Critical Alerts (Immediate Response)": "critical",
    "Warning Alerts (Review Within 1 Hour)": "warning",
    "Info Alerts (Daily Review)": "info",
}
MON_ITEMS = [item for item in CATALOG if item.id.startswith("MON-")]


def lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text().splitlines()


LOADED = PrometheusRules().process(lines("prometheus_rules.json"))
TARGETS = PrometheusTargets().process(lines("prometheus_targets.json"))
SERVER = {
    "prometheus_active": True,
    "alertmanager_active": True,
    "reachable": True,
    "alertmanagers": ["http://127.0.0.1:9093/api/v2/alerts"],
    "reload_success": True,
}
DASHBOARD = {
    "exists": True,
    "valid": True,
    "title": "Hardening overview",
    "uid": "hardening-overview",
    "panels": len(ALERTS),
    "queries": len(ALERTS),
    "items": sorted(by_item()),
}


def node_targets(tb1: str = "up") -> dict:
    targets = copy.deepcopy(TARGETS)
    for target in targets["targets"]:
        if target["host"] == "tb1":
            target["health"] = tb1
    return targets


FACTS = {
    cls.__name__: cls
    for cls in (
        PrometheusRules,
        PrometheusTargets,
        PrometheusServer,
        DashboardFile,
        PrometheusSeries,
    )
}
#: Every metric the rules read has series (the data check is tested in test_monitoring_data).
ALL_SERIES = {"reachable": True, "series": dict.fromkeys(RULE_METRICS, 1)}


def context(**facts: Any) -> HostContext:
    """tb1 (monitoring) with deployed-state facts, replaced by name from ``facts``."""
    values = {
        PrometheusRules: LOADED,
        PrometheusTargets: node_targets(),
        PrometheusServer: SERVER,
        DashboardFile: DASHBOARD,
        PrometheusSeries: ALL_SERIES,
        **{FACTS[name]: value for name, value in facts.items()},
    }
    return HostContext("tb1", ("monitoring",), {}, lambda cls, **kwargs: values[cls])


FRESH = {
    "PrometheusRules": {"reachable": True, "rules": []},
    "PrometheusServer": {**SERVER, "alertmanagers": ["http://localhost:9093/api/v2/alerts"]},
    "DashboardFile": DashboardFile.default(),
}


def test_one_alert_per_checklist_item_with_the_sections_severity() -> None:
    specs = by_item()
    assert len(specs) == len(ALERTS)
    for item in MON_ITEMS:
        assert specs[item.id].severity == SECTION_SEVERITY[item.section[-1]], item.id
        assert item.check in CHECKS and item.operation == "monitoring.alert_rules"
    for item_id in ("INF-05", "OPS-D-01", "OPS-D-05", "PRE-06"):
        assert next(i for i in CATALOG if i.id == item_id).check in CHECKS


def test_rendered_rules_carry_item_and_severity_labels() -> None:
    document = yaml.safe_load(render_rules())
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    assert [group["name"] for group in document["groups"]] == [
        "hardening-critical",
        "hardening-warning",
        "hardening-info",
    ]
    assert {rule["labels"]["checklist_item"] for rule in rules} == set(by_item())
    for rule in rules:
        spec = by_item()[rule["labels"]["checklist_item"]]
        assert (rule["alert"], rule["expr"], rule["for"]) == (spec.alert, spec.expr, spec.duration)
        assert rule["labels"]["severity"] == spec.severity
    assert by_item()["MON-CRIT-04"].duration == "10m"  # "sustained"


def test_rules_fact_parses_the_live_api_answer() -> None:
    assert LOADED["reachable"] and len(LOADED["rules"]) == len(ALERTS)
    memory = next(r for r in LOADED["rules"] if r["labels"]["checklist_item"] == "MON-CRIT-03")
    assert memory["name"] == "MemoryUsageAbove90Percent" and memory["duration"] == 300
    assert memory["query"].endswith("> 0.9") and memory["health"] == "ok"
    assert PrometheusRules().process(["#down"]) == PrometheusRules.default()
    assert PrometheusRules().process(["#nocurl"]) == PrometheusRules.default()


def test_targets_and_server_facts() -> None:
    assert TARGETS["reachable"]
    assert {(t["job"], t["host"], t["health"]) for t in TARGETS["targets"]} >= {
        ("node", "tb1", "down"),
        ("node", "tb2", "down"),
    }
    output = [
        "unit:prometheus:active",
        "unit:prometheus-alertmanager:inactive",
        'alertmanagers:{"status":"success","data":{"activeAlertmanagers":'
        '[{"url":"http://127.0.0.1:9093/api/v2/alerts"}],"droppedAlertmanagers":[]}}',
        'runtime:{"status":"success","data":{"reloadConfigSuccess":false}}',
    ]
    server = PrometheusServer().process(output)
    assert server == {
        "prometheus_active": True,
        "alertmanager_active": False,
        "reachable": True,
        "alertmanagers": ["http://127.0.0.1:9093/api/v2/alerts"],
        "reload_success": False,
    }
    down = PrometheusServer().process(["unit:prometheus:failed", "alertmanagers:#down"])
    assert not down["reachable"] and not down["prometheus_active"]


def test_dashboard_fact_and_generated_dashboard() -> None:
    board = dashboard()
    assert board["uid"] == "hardening-overview" and len(board["panels"]) == len(ALERTS)
    queries = {p["description"].split(":")[0]: p["targets"][0]["expr"] for p in board["panels"]}
    assert queries["MON-CRIT-03"] == (
        "(1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)"
    )
    assert queries["MON-CRIT-02"] == 'ALERTS{checklist_item="MON-CRIT-02"}'
    assert json.loads(render_dashboard()) == board
    assert DashboardFile().process(["#absent"]) == DashboardFile.default()
    assert DashboardFile().process(["#error"]) == DashboardFile.default()


@pytest.mark.parametrize("item", MON_ITEMS, ids=lambda item: item.id)
def test_alert_checks_fail_fresh_and_pass_with_the_rule_loaded(item) -> None:
    fresh = CHECKS[item.check](context(**FRESH))
    assert fresh.status is Status.FAIL and f"checklist_item={item.id}" in fresh.evidence
    loaded = CHECKS[item.check](context())
    assert loaded.status is Status.PASS, loaded.evidence
    spec = by_item()[item.id]
    assert spec.alert in loaded.evidence and f"severity {spec.severity}" in loaded.evidence


def test_alert_check_fails_when_the_threshold_or_duration_was_changed() -> None:
    rules = copy.deepcopy(LOADED)
    for rule in rules["rules"]:
        if rule["labels"]["checklist_item"] == "MON-CRIT-05":
            rule["query"] = rule["query"].replace("< 0.1", "< 0.05")
        if rule["labels"]["checklist_item"] == "MON-CRIT-04":
            rule["duration"] = 60
    disk = CHECKS["alerts.disk"](context(PrometheusRules=rules))
    assert disk.status is Status.FAIL and "lacks '<0.1'" in disk.evidence
    cpu = CHECKS["alerts.cpu"](context(PrometheusRules=rules))
    assert cpu.status is Status.FAIL and "at least 10m" in cpu.evidence


def test_alert_check_fails_when_prometheus_is_down() -> None:
    outcome = CHECKS["alerts.memory"](context(PrometheusRules=PrometheusRules.default()))
    assert outcome.status is Status.FAIL and "does not answer" in outcome.evidence


def test_prometheus_check() -> None:
    fresh = CHECKS["monitoring.prometheus"](context(**FRESH))
    assert fresh.status is Status.FAIL and "no rule for MON-CRIT-01" in fresh.evidence
    assert CHECKS["monitoring.prometheus"](context()).status is Status.PASS
    no_am = CHECKS["monitoring.prometheus"](
        context(PrometheusServer={**SERVER, "alertmanager_active": False, "alertmanagers": []})
    )
    assert no_am.status is Status.FAIL and "Alertmanager is not running" in no_am.evidence


def test_uptime_check() -> None:
    assert CHECKS["monitoring.uptime"](context(**FRESH)).status is Status.FAIL
    outcome = CHECKS["monitoring.uptime"](context())
    assert outcome.status is Status.PASS, outcome.evidence
    assert "node exporter targets up: 1/2" in outcome.evidence and "tb2 (node)" in outcome.evidence
    own_down = CHECKS["monitoring.uptime"](context(PrometheusTargets=node_targets("down")))
    assert own_down.status is Status.FAIL


def test_response_time_and_dashboard_checks() -> None:
    assert CHECKS["monitoring.response_times"](context(**FRESH)).status is Status.FAIL
    assert CHECKS["monitoring.response_times"](context()).status is Status.PASS
    assert CHECKS["monitoring.dashboards"](context(**FRESH)).status is Status.FAIL
    assert CHECKS["monitoring.dashboards"](context()).status is Status.PASS
    partial = {**DASHBOARD, "items": ["MON-CRIT-01"]}
    outcome = CHECKS["monitoring.dashboards"](context(DashboardFile=partial))
    assert outcome.status is Status.FAIL and "no panel for MON-CRIT-02" in outcome.evidence


def test_scrape_jobs_follow_inventory_groups() -> None:
    hosts = [
        SimpleNamespace(
            name="tb1",
            groups=["web", "cache", "monitoring", "db_primary"],
            data={"ssh_hostname": "10.77.3.2"},
        ),
        SimpleNamespace(name="tb2", groups=["db_replica"], data={}),
    ]
    jobs = scrape_jobs(hosts)
    assert jobs["node"] == [
        {"address": "10.77.3.2:9100", "host": "tb1"},
        {"address": "tb2:9100", "host": "tb2"},
    ]
    assert [t["host"] for t in jobs["postgres"]] == ["tb1", "tb2"]
    assert [t["host"] for t in jobs["redis"]] == ["tb1"]
    assert jobs["alertmanager"] == [{"address": "10.77.3.2:9093", "host": "tb1"}]
