"""Deployment-day checks: judged from the last ``hardening deploy-day`` record of each host
(``/var/lib/hardening/deployday/last.json``) and from the 24-48 h watch samples."""

from __future__ import annotations

from hardening.checks import HostContext, check
from hardening.facts.deployday import DeployDayRecord, DeployDayWatch
from hardening.results import Outcome

RUN_FIX = "run `hardening deploy-day INVENTORY --release VERSION`"
NO_RUN = "no deploy-day run recorded: run `hardening deploy-day`"
NO_WATCH = "no post-deployment watch sample yet (deploy-day installs hardening-deployday-watch)"

#: check name -> gate recorded by deploy-day
GATES = {
    "deployday.state_snapshot": "state_snapshot",
    "deployday.rollback_plan": "rollback_plan",
    "deployday.verbose_logging": "verbose_logging",
    "deployday.scripts_dry_run": "scripts_dry_run",
    "deployday.backend_health": "backend_health",
    "deployday.frontend_order": "frontend_order",
    "deployday.frontend_loads": "frontend_loads",
    "deployday.smoke_tests": "smoke_tests",
    "deployday.error_rates": "error_rates",
    "deployday.regression_suite": "regression_suite",
    "deployday.integrations": "integrations",
    "deployday.performance": "performance",
    "deployday.documentation_note": "documentation_note",
}


def judge_gate(record: dict | None, gate: str) -> Outcome:
    """The outcome of one recorded gate of the last deploy-day run."""
    if not record:
        return Outcome.pending(NO_RUN, fix=RUN_FIX)
    release = record.get("release", "?")
    entry = record.get("gates", {}).get(gate)
    if entry is None:
        if record.get("result") in ("rolled_back", "failed", "stopped"):
            failed = [n for n, g in record.get("gates", {}).items() if g.get("status") == "fail"]
            return Outcome.failed(
                f"release {release} was {record['result']} (failed: {', '.join(failed) or '?'}) "
                f"before gate {gate}",
                fix=RUN_FIX,
            )
        if record.get("result") == "running":
            return Outcome.pending(f"release {release} is still being deployed", fix=RUN_FIX)
        return Outcome.not_applicable(f"release {release}: no {gate} gate on this host")
    evidence = f"release {release}: {gate} {entry.get('status')}: {entry.get('detail', '')}"
    status = entry.get("status")
    if status == "pass":
        return Outcome.passed(evidence)
    if status == "skip":
        return Outcome.not_applicable(evidence)
    if status == "pending":
        return Outcome.pending(evidence, fix="declare it in the inventory and rerun deploy-day")
    return Outcome.failed(evidence, fix=RUN_FIX)


def _register(name: str, gate: str) -> None:
    def gate_check(ctx: HostContext) -> Outcome:
        return judge_gate(ctx.fact(DeployDayRecord), gate)

    gate_check.__doc__ = f"Deploy-day gate ``{gate}`` of the last run passed."
    check(name)(gate_check)


for _name, _gate in GATES.items():
    _register(_name, _gate)


def _samples(ctx: HostContext) -> list[dict]:
    watch = ctx.fact(DeployDayWatch)
    return list((watch or {}).get("samples", []))


@check("deployday.stability")
def stability(ctx: HostContext) -> Outcome:
    """STAB-01: no failed units and no service restarts across the watch samples."""
    samples = _samples(ctx)
    if not samples:
        return Outcome.pending(NO_WATCH, fix=RUN_FIX)
    last = samples[-1]
    restarts = [s["restarts"] for s in samples if s.get("restarts") is not None]
    grew = bool(restarts) and restarts[-1] > restarts[0]
    evidence = (
        f"{len(samples)} samples since {samples[0]['at']}: failed units "
        f"{', '.join(last['failed_units']) or 'none'}, restarts "
        f"{restarts[0] if restarts else '?'}->{restarts[-1] if restarts else '?'}"
    )
    if last["failed_units"] or grew:
        return Outcome.failed(evidence, fix="investigate the failed units / restarts")
    return Outcome.passed(evidence)


@check("deployday.metrics_collected")
def metrics_collected(ctx: HostContext) -> Outcome:
    """STAB-02: the watch collected Prometheus metrics after the release."""
    samples = _samples(ctx)
    if not samples:
        return Outcome.pending(NO_WATCH, fix=RUN_FIX)
    up = [s["prometheus_up"] for s in samples if s.get("prometheus_up") is not None]
    if not up:
        return Outcome.failed(
            f"{len(samples)} samples, none with Prometheus metrics",
            fix="deploy monitoring (deploys/monitoring.py) on this host",
        )
    return Outcome.passed(f"{len(up)} samples with metrics, {int(up[-1])} targets up")


@check("deployday.data_integrity")
def data_integrity(ctx: HostContext) -> Outcome:
    """STAB-04: row counts of declared tables did not shrink since the pre-flight snapshot."""
    samples = _samples(ctx)
    if not samples:
        return Outcome.pending(NO_WATCH, fix=RUN_FIX)
    last = samples[-1]
    counts, baseline = last.get("row_counts", {}), last.get("baseline_row_counts", {})
    if not counts:
        return Outcome.pending(
            "no deployday_integrity_tables declared", fix="declare database/table entries"
        )
    lost = [
        f"{table} {baseline.get(table)}->{count}"
        for table, count in counts.items()
        if count is None or count < (baseline.get(table) or 0)
    ]
    shown = ", ".join(f"{t}={c}" for t, c in counts.items())
    if lost:
        return Outcome.failed(f"rows lost or unreadable: {', '.join(lost)}", fix="restore data")
    return Outcome.passed(f"row counts at or above the snapshot: {shown}")


#: A strictly growing RSS by more than this fraction is a leak suspicion.
LEAK_GROWTH = 0.10
MIN_SAMPLES = 3


def leak_suspected(rss: list[int]) -> bool:
    """True when the RSS only grows and grew by more than ``LEAK_GROWTH``."""
    monotonic = all(b >= a for a, b in zip(rss, rss[1:], strict=False))
    return monotonic and rss[-1] > rss[0] * (1 + LEAK_GROWTH)


@check("deployday.memory_leak")
def memory_leak(ctx: HostContext) -> Outcome:
    """STAB-05: the app's RSS over the watch window does not only grow."""
    rss = [s["rss_kib"] for s in _samples(ctx) if s.get("rss_kib")]
    if len(rss) < MIN_SAMPLES:
        return Outcome.pending(
            f"{len(rss)} RSS samples of the app (need {MIN_SAMPLES})", fix=NO_WATCH
        )
    evidence = f"RSS {rss[0]}->{rss[-1]} KiB over {len(rss)} samples"
    if leak_suspected(rss):
        return Outcome.failed(evidence + ": only grows (leak suspected)", fix="profile the app")
    return Outcome.passed(evidence)
