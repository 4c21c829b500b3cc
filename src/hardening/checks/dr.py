"""DR-RTO-02 (measured non-critical recovery time) and OPS-M-03 / STAB-07 (monthly DR drill).

Both read JSON result files through the backups' ``RestoreDrillResult`` fact (any result
file with ``ok``, ``finished`` and ``rto_seconds``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from pyinfra.facts.files import File

from hardening.checks import HostContext, check
from hardening.facts.docs import APP_RESTART_RESULT, DR_DRILL_RESULT, DR_DRILL_UNIT
from hardening.facts.pgbackrest import RestoreDrillResult
from hardening.results import Outcome

DB_GROUPS = ("db_primary", "db_replica")


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


@check("dr.rto_noncritical")
def rto_noncritical(ctx: HostContext) -> Outcome:
    """DR-RTO-02: the measured application restart is within the non-critical RTO."""
    if not ctx.in_group("web"):
        return Outcome.not_applicable("no application on this host (not in group web)")
    target = int(ctx.setting("rto_noncritical_seconds", 14400))
    result = ctx.fact(RestoreDrillResult, path=APP_RESTART_RESULT)
    fix = "run deploys/restart_app.py (rolling restart with health gate; records the time)"
    if not result.get("exists"):
        return Outcome.failed(f"no measured application restart ({APP_RESTART_RESULT})", fix)
    measured = result.get("rto_seconds")
    if not result.get("ok") or measured is None:
        error = result.get("error") or "unsuccessful"
        return Outcome.failed(f"last application restart failed: {error}", fix)
    text = (
        f"application restart measured {float(measured):.1f} s on "
        f"{_when(float(result.get('finished', 0)))} (target < {target} s)"
    )
    if float(measured) >= target:
        return Outcome.failed(text, fix="make the restart faster or raise rto_noncritical_seconds")
    return Outcome.passed(text)


@check("dr.drill")
def dr_drill(ctx: HostContext) -> Outcome:
    """OPS-M-03 / STAB-07: the DR drill ran successfully within ``dr_drill_max_age_days``."""
    if not ctx.in_group(*DB_GROUPS):
        return Outcome.not_applicable("the DR drill runs on db hosts; this host is not one")
    max_days = int(ctx.setting("dr_drill_max_age_days", 31))
    result = ctx.fact(RestoreDrillResult, path=DR_DRILL_RESULT)
    fix = "run deploys/runbooks.py (installs the monthly DR drill timer on db hosts)"
    if not result.get("exists"):
        if ctx.fact(File, path=f"/etc/systemd/system/{DR_DRILL_UNIT}.timer"):
            return Outcome.pending(
                f"DR drill timer {DR_DRILL_UNIT}.timer installed, no drill has run yet",
                fix=f"wait for the timer or run: systemctl start {DR_DRILL_UNIT}.service",
            )
        return Outcome.failed("no DR drill configured on this host", fix)
    steps = ", ".join(f"{k} {v}" for k, v in sorted(result.get("steps", {}).items()))
    finished = float(result.get("finished", 0))
    age_days = (time.time() - finished) / 86400
    text = f"last DR drill {_when(finished)} ({age_days:.1f} days ago): {steps or 'no steps'}"
    if not result.get("ok"):
        return Outcome.failed(f"{text}; failed: {result.get('error', '')}", fix)
    if age_days > max_days:
        return Outcome.failed(f"{text}; older than {max_days} days", fix)
    return Outcome.passed(text)
