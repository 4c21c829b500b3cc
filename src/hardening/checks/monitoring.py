"""Monitoring and alerting checks (INF-05, PRE-06, OPS-D-01, OPS-D-05, MON-*).

Judged from what the running Prometheus has *loaded* (its HTTP API), not from
files: a rules file that Prometheus rejected or never read alerts nobody.

A rule that reads metrics nobody scrapes never fires either, so each alert item also asks
Prometheus (one batched query for every rule's metrics) whether the metrics its rule reads
have series -- for the metrics whose source the inventory declares (:func:`metric_source`,
:func:`data_expected`):

* ``up``: Prometheus itself, always;
* ``node_*``: the node exporters (job ``node``, every inventory host);
* ``pg_*``: the PostgreSQL exporters (job ``postgres``, present when the inventory has a
  database host);
* ``redis_*``: the Redis exporters (job ``redis``, present when the inventory has a
  ``cache`` host);
* the reference app's series (the rules of ``APP_ITEMS``): job ``app``, expected once one of
  its targets is up, i.e. a ``web`` host has the app deployed and Prometheus reads its
  ``/metrics`` (a web host without the app is no source; a deployed app that went down is
  reported by ``InstanceDown``, OPS-D-01);
* ``backup_*``: written by the backup job after every pgBackRest run into the node
  exporter's textfile collector (``backup.prom``); expected when the inventory gives the
  monitoring host a backup repository (``backup_s3_endpoint``) and a database is scraped;
* ``deployment_*``: written by the deploy-day tool when a release goes live
  (``deployment.prom``); expected once a release has gone live (until then there is no
  deployment to notify about);
* ``log_messages_total``: counted from the journal every minute by a timer deploys/logs.py
  installs on every host (``log-volume.prom``); expected once a host exports it;
* anything else: not expected (no component of this toolkit exports it).

The jobs come from the scrape configuration deploys/monitoring.py renders from the inventory
(``scrape_jobs``), read back from Prometheus' active targets. A metric whose source is
expected but has no series fails the item; one whose source is not expected keeps the
rule's verdict, and the evidence says that data is not expected.
"""

from __future__ import annotations

from hardening.alert_rules import ALERTS, APP_ITEMS, AlertSpec, by_item, normalise, rule_metrics
from hardening.catalog import CATALOG
from hardening.checks import HostContext, check
from hardening.facts.prometheus import (
    DashboardFile,
    PrometheusRules,
    PrometheusSeries,
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


#: Metric name prefixes and the scrape job that exports them.
_PREFIX_JOBS = (("node_", "node"), ("pg_", "postgres"), ("redis_", "redis"))
#: Metrics hosts write into the node exporter's textfile collector, by prefix, and producer.
_TEXTFILE_JOBS = (("backup_", "backup"), ("deployment_", "deploy"), ("log_messages_", "logs"))
#: What each textfile producer is, and why its data is not expected when it is not declared.
TEXTFILE_PRODUCERS = {
    "backup": (
        "the backup job writes it after every run (backup.prom)",
        "no backup repository (backup_s3_endpoint) for a scraped database",
    ),
    "deploy": (
        "the deploy-day tool writes it when a release goes live (deployment.prom)",
        "no release has gone live through deploy-day yet",
    ),
    "logs": (
        "deploys/logs.py's timer counts journal entries every minute (log-volume.prom)",
        "deploys/logs.py has not installed the journal counter on any host",
    ),
}
#: Series of the reference app's ``/metrics`` (job ``app``).
APP_METRICS = frozenset(name for item in APP_ITEMS for name in rule_metrics(item))
#: Every metric any alert rule reads (the one batched series query).
RULE_METRICS = tuple(sorted({name for spec in ALERTS for name in rule_metrics(spec.item)}))


def metric_source(name: str) -> str:
    """The scrape job a metric comes from; ``""`` when no component of this toolkit
    exports it.

    **Example:**

    >>> metric_source("pg_up"), metric_source("http_requests_total"), metric_source("up")
    ('postgres', 'app', 'prometheus')
    """
    if name == "up":
        return "prometheus"
    if name in APP_METRICS:
        return "app"
    prefixes = _PREFIX_JOBS + _TEXTFILE_JOBS
    return next((job for prefix, job in prefixes if name.startswith(prefix)), "")


def declared_producers(ctx: HostContext, targets: list[dict], series: dict) -> frozenset[str]:
    """The textfile producers (:data:`TEXTFILE_PRODUCERS`) this inventory has: backups where
    the monitoring host knows a backup repository and a database is scraped; deployments
    once a release went live and log volume once a host counts its journal (their series
    exist: the inventory does not say whether those producers ran)."""
    found = set()
    if ctx.setting("backup_s3_endpoint", "") and any(t["job"] == "postgres" for t in targets):
        found.add("backup")
    found.update(
        job
        for job, name in (
            ("deploy", "deployment_timestamp_seconds"),
            ("logs", "log_messages_total"),
        )
        if series["series"].get(name)
    )
    return frozenset(found)


def data_expected(
    job: str, targets: list[dict], producers: frozenset[str] = frozenset()
) -> tuple[bool, str]:
    """(expected, why) for series of ``job`` given Prometheus' active targets: exporters'
    jobs when the inventory gave them targets, the app's once a target of it is up, a
    textfile producer's when it is among ``producers`` and node exporters are scraped.

    **Example:**

    >>> data_expected("backup", [{"job": "node", "health": "up"}], frozenset({"backup"}))
    (True, 'the backup job writes it after every run (backup.prom); 1 node target(s)')
    """
    if job == "prometheus":
        return True, "Prometheus itself"
    if not job:
        return False, "no component of this toolkit exports it yet"
    if job in TEXTFILE_PRODUCERS:
        what, absent = TEXTFILE_PRODUCERS[job]
        nodes = [t for t in targets if t["job"] == "node"]
        if job not in producers or not nodes:
            return False, absent if nodes else "no node scrape target"
        return True, f"{what}; {len(nodes)} node target(s)"
    ours = [t for t in targets if t["job"] == job]
    if not ours:
        return False, f"no {job} scrape target (the inventory declares no source)"
    if job == "app" and not any(t["health"] == "up" for t in ours):
        return False, "no app target is up (no web host has the app deployed)"
    return True, f"{len(ours)} {job} target(s)"


def _data_problems(ctx: HostContext, spec: AlertSpec) -> tuple[list[str], list[str]]:
    """(problems, notes): expected metrics of the rule without series; metrics whose source
    is not expected here."""
    targets = ctx.fact(PrometheusTargets)["targets"]
    series = ctx.fact(PrometheusSeries, names=RULE_METRICS)
    if not series["reachable"]:
        return ["Prometheus did not answer the series query"], []
    problems, notes = [], []
    producers = declared_producers(ctx, targets, series)
    for name in sorted(rule_metrics(spec.item)):
        expected, why = data_expected(metric_source(name), targets, producers)
        if not expected:
            notes.append(f"{name}: data not expected ({why})")
        elif not series["series"].get(name):
            problems.append(
                f"rule {spec.alert} reads {name}: no series in Prometheus"
                " (is its exporter/app scraped?)"
            )
    return problems, notes


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
    missing, notes = _data_problems(ctx, spec)
    problems += missing
    return not problems, "; ".join([*problems, _describe(rule), *notes])


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
