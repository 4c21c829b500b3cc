"""Monitoring and alerting checks (INF-05, PRE-06, OPS-D-01, OPS-D-05, MON-*).

Judged from what the running Prometheus has *loaded* (its HTTP API), not from
files: a rules file that Prometheus rejected or never read alerts nobody.
"""

from __future__ import annotations

from hardening.alert_rules import ALERTS, AlertSpec, by_item, normalise
from hardening.catalog import CATALOG
from hardening.checks import HostContext, check
from hardening.facts.prometheus import (
    DashboardFile,
    PrometheusRules,
    PrometheusServer,
    PrometheusTargets,
)
from hardening.results import Outcome
from hardening.settings import default

FIX = "run deploys/monitoring.py (Prometheus, Alertmanager, the checklist's alert rules)"


def _describe(rule: dict) -> str:
    labels = rule["labels"]
    return (
        f"{rule['name']}: expr {rule['query']}; for {int(rule['duration'])}s; "
        f"severity {labels.get('severity', 'none')}; health {rule['health'] or 'unknown'}"
    )


def _judge_rule(ctx: HostContext, spec: AlertSpec) -> tuple[bool, str]:
    """(passed, evidence) for the loaded rule labelled ``checklist_item: spec.item``."""
    rules = ctx.fact(PrometheusRules)
    if not rules["reachable"]:
        return False, "Prometheus API on 127.0.0.1:9090 does not answer"
    labelled = [r for r in rules["rules"] if r["labels"].get("checklist_item") == spec.item]
    if not labelled:
        return False, f"no loaded alert rule has checklist_item={spec.item} " + (
            f"({len(rules['rules'])} alert rules loaded)"
        )
    rule = labelled[0]
    query = normalise(rule["query"])
    problems = [
        f"expr lacks {part!r}" for part in spec.must_contain if normalise(part) not in query
    ]
    if rule["labels"].get("severity") != spec.severity:
        problems.append(f"severity should be {spec.severity}")
    if rule["duration"] < spec.duration_seconds:
        problems.append(f"for should be at least {spec.duration}")
    if rule["health"] not in ("ok", "unknown", ""):
        problems.append(f"rule health is {rule['health']}")
    evidence = _describe(rule)
    return not problems, "; ".join([*problems, evidence])


def _rule_check(spec: AlertSpec):
    def judge(ctx: HostContext) -> Outcome:
        passed, evidence = _judge_rule(ctx, spec)
        return Outcome.passed(evidence) if passed else Outcome.failed(evidence, fix=FIX)

    judge.__doc__ = f"{spec.item}: a loaded rule with the checklist threshold ({spec.summary})."
    return judge


_CHECK_NAMES = {item.id: item.check for item in CATALOG}
for _spec in ALERTS:
    if _spec.item.startswith("MON-"):
        check(_CHECK_NAMES[_spec.item])(_rule_check(_spec))


@check("monitoring.prometheus")
def prometheus(ctx: HostContext) -> Outcome:
    """INF-05: Prometheus and Alertmanager run, rules are loaded, alerts go to Alertmanager."""
    server = ctx.fact(PrometheusServer)
    rules = ctx.fact(PrometheusRules)["rules"]
    checklist = sorted({r["labels"].get("checklist_item", "") for r in rules} - {""})
    evidence = [
        f"prometheus {'active' if server['prometheus_active'] else 'inactive'}",
        f"alertmanager {'active' if server['alertmanager_active'] else 'inactive'}",
        f"alertmanagers: {', '.join(server['alertmanagers']) or 'none'}",
        f"{len(rules)} alert rules loaded ({len(checklist)} for checklist items)",
    ]
    if server["reload_success"] is False:
        evidence.append("last configuration reload FAILED")
    missing = sorted(set(by_item()) - set(checklist))
    problems = []
    if not (server["prometheus_active"] and server["reachable"]):
        problems.append("Prometheus is not running or its API does not answer")
    if not server["alertmanager_active"]:
        problems.append("Alertmanager is not running")
    if not server["alertmanagers"]:
        problems.append("Prometheus sends alerts to no Alertmanager")
    if missing:
        problems.append("no rule for " + ", ".join(missing))
    if server["reload_success"] is False:
        problems.append("Prometheus runs an older configuration than its file")
    if problems:
        return Outcome.failed("; ".join(problems + evidence), fix=FIX)
    return Outcome.passed("; ".join(evidence))


@check("monitoring.uptime")
def uptime(ctx: HostContext) -> Outcome:
    """OPS-D-01: the target-down rule is loaded and node exporters are scraped, locally up."""
    passed, rule_evidence = _judge_rule(ctx, by_item()["OPS-D-01"])
    targets = ctx.fact(PrometheusTargets)["targets"]
    nodes = [t for t in targets if t["job"] == "node"]
    up = [t for t in nodes if t["health"] == "up"]
    down = [f"{t['host'] or t['instance']} ({t['job']})" for t in targets if t["health"] != "up"]
    evidence = [
        rule_evidence,
        f"node exporter targets up: {len(up)}/{len(nodes)}",
        "targets down (InstanceDown fires): " + (", ".join(down) or "none"),
    ]
    own = [t for t in nodes if t["host"] == ctx.name]
    if not passed or not up or (own and own[0]["health"] != "up"):
        return Outcome.failed("; ".join(evidence), fix=FIX)
    return Outcome.passed("; ".join(evidence))


@check("monitoring.response_times")
def response_times(ctx: HostContext) -> Outcome:
    """OPS-D-05: the p95 response-time rule (MON-WARN-01, > 2 s) is loaded."""
    passed, evidence = _judge_rule(ctx, by_item()["MON-WARN-01"])
    return Outcome.passed(evidence) if passed else Outcome.failed(evidence, fix=FIX)


@check("monitoring.dashboards")
def dashboards(ctx: HostContext) -> Outcome:
    """PRE-06: the dashboard file is valid JSON with a panel for every checklist alert."""
    path = ctx.setting("monitoring_dashboard_path", default("monitoring_dashboard_path"))
    board = ctx.fact(DashboardFile, path=path)
    if not board["exists"]:
        return Outcome.failed(f"{path} does not exist", fix=FIX)
    if not board["valid"]:
        return Outcome.failed(f"{path} is not a dashboard: {board.get('error', '')}", fix=FIX)
    missing = sorted(set(by_item()) - set(board["items"]))
    evidence = (
        f"{path}: {board.get('title', '')!r}, {board['panels']} panels, {board['queries']} queries"
    )
    if missing:
        return Outcome.failed(f"{evidence}; no panel for {', '.join(missing)}", fix=FIX)
    return Outcome.passed(evidence)
