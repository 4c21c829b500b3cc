"""Log checks: INF-06, DR-BAK-02, DR-RPO-02, OPS-D-02, DEP-02, POST-05, STAB-03 (logs.*), and
DR-BAK-03 (config_backup.retention).

Forwarding delay (DR-RPO-02) is measured on the central log host: every host's
``hardening-log-marker.timer`` sends a marker hourly, the log host stores it with its
arrival time, and ``CentralLogs`` reads the newest one per host. The audit itself writes
nothing, not even a log line.
"""

from __future__ import annotations

import time
from functools import partial

from hardening.checks import HostContext, check
from hardening.facts.config_backup import ConfigBackups
from hardening.facts.logs import (
    CentralLogs,
    JournalCounts,
    LogForwarding,
    LogReview,
    LogRotation,
    LogTimers,
)
from hardening.results import Outcome
from hardening.settings import default

FIX = "run deploys/logs.py (log_host / logs_transport in inventory)"
#: Sources each group must forward, beyond the journal and syslog (auth included).
GROUP_SOURCES = {"web": "nginx", "db_primary": "postgresql", "db_replica": "postgresql"}
DAY = 86400


def _setting(ctx: HostContext, key: str):
    return ctx.setting(key, default(key))


#: fail with the problems first, else pass; evidence either way (``Outcome.judge``)
_verdict = partial(Outcome.judge, fix=FIX)


def _is_log_host(ctx: HostContext) -> bool:
    """This host is the central log host (``log_host``, else a monitoring host)."""
    name = _setting(ctx, "log_host")
    return name == ctx.name if name else ctx.in_group("monitoring")


def _forward(ctx: HostContext) -> dict | None:
    forwards = ctx.fact(LogForwarding)["forwards"]
    return forwards[0] if forwards else None


def _forward_text(forward: dict) -> str:
    kind = "RELP" if forward["protocol"] == "relp" else f"plain {forward['protocol'].upper()}"
    tls = "/TLS" if forward.get("tls") else ""
    return f"forwarded to {forward['target']}:{forward['port']} over {kind}{tls}"


def _tls_problems(ctx: HostContext, fact: dict, forward: dict | None) -> list[str]:
    """With ``logs_tls`` (RELP): the forward and the log host's receivers must use TLS."""
    if not (_setting(ctx, "logs_tls") and _setting(ctx, "logs_transport") == "relp"):
        return []
    problems = []
    if forward is not None and not forward.get("tls"):
        problems.append("logs leave the host unencrypted (no RELP TLS)")
    if _is_log_host(ctx):
        plain = [str(r["port"]) for r in fact["receivers"] if not r.get("tls")]
        if plain:
            problems.append(f"log host receives without TLS on {', '.join(plain)}")
    return problems


@check("logs.forwarding")
def forwarding(ctx: HostContext) -> Outcome:
    """INF-06: rsyslog forwards every log of the host (and its group's files) centrally, over
    RELP/TLS unless ``logs_tls`` is off."""
    fact = ctx.fact(LogForwarding)
    problems, evidence = [], []
    forward = _forward(ctx)
    if not fact["rsyslog_active"]:
        problems.append("rsyslog is not running")
    if forward is None:
        problems.append("no rsyslog forwarding action (omrelp/omfwd)")
    else:
        evidence.append(_forward_text(forward))
    tags = {source["tag"] for source in fact["files"]}
    wanted = {tag for group, tag in GROUP_SOURCES.items() if ctx.in_group(group)}
    if wanted - tags:
        problems.append(f"log files not read: {', '.join(sorted(wanted - tags))}")
    evidence.append(f"files read: {', '.join(sorted(tags)) or 'none'}")
    timers = ctx.fact(LogTimers)
    if "hardening-log-marker" not in timers:
        problems.append("hardening-log-marker.timer is not installed")
    problems += _tls_problems(ctx, fact, forward)
    if _is_log_host(ctx):
        if not fact["receivers"]:
            problems.append("log host does not receive (no imrelp/imtcp input)")
        central = ctx.fact(CentralLogs)
        evidence.append(f"receiving logs of {len(central['hosts'])} host(s)")
    return _verdict(problems, evidence)


@check("logs.retention")
def retention(ctx: HostContext) -> Outcome:
    """DR-BAK-02: central logs rotated daily and kept >= logs_retention_days days."""
    days = _setting(ctx, "logs_retention_days")
    if not _is_log_host(ctx):
        forward = _forward(ctx)
        if forward is None:
            return Outcome.failed("logs are not forwarded to a central log host", fix=FIX)
        return Outcome.not_applicable(f"{_forward_text(forward)}; retention is kept there")
    blocks = [b for b in ctx.fact(LogRotation) if any("hardening-central" in p for p in b["paths"])]
    if not blocks:
        return Outcome.failed("no logrotate policy for /var/log/hardening-central", fix=FIX)
    block = blocks[0]
    evidence = [
        f"{' '.join(block['paths'])}: {block['frequency'] or 'no frequency'}, "
        f"rotate {block['rotate']}, compress={'yes' if block['compress'] else 'no'}"
    ]
    problems = []
    if block["frequency"] != "daily" or (block["rotate"] or 0) < days:
        problems.append(f"need daily rotation with rotate >= {days}")
    return _verdict(problems, evidence)


@check("dr.rpo_logs")
def rpo_logs(ctx: HostContext) -> Outcome:
    """DR-RPO-02: every host's newest marker arrived within logs_rpo_hours, with a small delay."""
    if not _is_log_host(ctx):
        forward = _forward(ctx)
        if forward is None:
            return Outcome.failed(
                "logs are not forwarded: everything since the last backup "
                "of this host could be lost",
                fix=FIX,
            )
        return Outcome.not_applicable(
            f"{_forward_text(forward)}; this host's marker delay is measured on the log host"
        )
    central = ctx.fact(CentralLogs)
    if not central["hosts"]:
        return Outcome.failed("no host's logs have arrived on this log host", fix=FIX)
    now = time.time()
    max_delay = _setting(ctx, "logs_max_delay_seconds")
    max_age = _setting(ctx, "logs_rpo_hours") * 3600
    problems, evidence = [], []
    for name, found in sorted(central["hosts"].items()):
        sent, received = found["marker_sent"], found["marker_received"]
        if sent is None or received is None:
            problems.append(f"{name}: no marker received")
            continue
        delay, age = received - sent, now - received
        evidence.append(f"{name}: marker delay {delay:.1f} s, arrived {age / 3600:.1f} h ago")
        if delay > max_delay:
            problems.append(f"{name}: delay above {max_delay} s")
        if age > max_age:
            problems.append(f"{name}: no marker for more than {max_age // 3600} h")
    return _verdict(problems, evidence)


def _over(counts: dict, units: list[str], level: str, limit: int) -> list[str]:
    """``unit: N err`` for watched units above ``limit`` lines of ``level``."""
    return [
        f"{unit}: {counts[unit][level]} {level}"
        for unit in units
        if unit in counts and counts[unit].get(level, 0) > limit
    ]


def _live(ctx: HostContext) -> tuple[dict, list[str], list[str]]:
    """Live journal counts of the last hour, the watched units and what to say about them."""
    counts = ctx.fact(JournalCounts, since="-1h")
    units = list(_setting(ctx, "logs_watched_units"))
    seen = counts.get("units", {})
    errors = sum(seen.get(unit, {}).get("err", 0) for unit in units)
    warnings = sum(seen.get(unit, {}).get("warning", 0) for unit in units)
    return counts, units, [f"last hour, watched units: {errors} err, {warnings} warning"]


def _monitoring_problems(ctx: HostContext) -> list[str]:
    """Logs are watched: forwarded centrally and reviewed daily."""
    problems = []
    if _forward(ctx) is None:
        problems.append("logs are not forwarded to a central log host")
    if "hardening-log-review" not in ctx.fact(LogTimers):
        problems.append("no daily error review timer")
    return problems


@check("logs.backend_errors")
def backend_errors(ctx: HostContext) -> Outcome:
    """DEP-02: backend logs are watched and hold no errors in the last hour."""
    counts, units, evidence = _live(ctx)
    problems = _monitoring_problems(ctx)
    if "error" in counts:
        problems.append(counts["error"])
    problems += _over(counts.get("units", {}), units, "err", _setting(ctx, "logs_max_errors"))
    return _verdict(problems, evidence, fix=FIX + "; read the errors: journalctl -p err -u UNIT")


@check("logs.warnings_errors")
def warnings_errors(ctx: HostContext) -> Outcome:
    """POST-05: warnings and errors of the last hour within logs_max_warnings / _errors."""
    counts, units, evidence = _live(ctx)
    seen = counts.get("units", {})
    problems = _monitoring_problems(ctx)
    problems += _over(seen, units, "err", _setting(ctx, "logs_max_errors"))
    problems += _over(seen, units, "warning", _setting(ctx, "logs_max_warnings"))
    total = sum(entry.get("warning", 0) + entry.get("err", 0) for entry in seen.values())
    evidence.append(f"all units: {total} warning/err lines")
    return _verdict(problems, evidence, fix=FIX + "; read them: journalctl -p warning --since -1h")


def _review_outcome(ctx: HostContext, pending_ok: bool) -> Outcome:
    timers = ctx.fact(LogTimers)
    review = ctx.fact(LogReview)
    timer = timers.get("hardening-log-review")
    if not timer or not (timer["enabled"] and timer["active"]):
        return Outcome.failed("hardening-log-review.timer is not installed and active", fix=FIX)
    if not review.get("exists"):
        if pending_ok:
            return Outcome.pending("review timer installed, no review has run yet")
        return Outcome.failed("no error review has run", fix=FIX)
    age = time.time() - (review.get("generated") or 0)
    units = list(_setting(ctx, "logs_watched_units"))
    over = _over(review.get("units", {}), units, "err", _setting(ctx, "logs_max_errors"))
    evidence = [f"{review['file']} ({age / 3600:.1f} h old), timer {timer['calendar']}"]
    problems = [f"{entry} in 24 h" for entry in over]
    if age > DAY + 2 * 3600:
        problems.append("newest review is older than a day")
    return _verdict(problems, evidence, fix="read the errors: journalctl -p err --since -24h")


@check("logs.daily_review")
def daily_review(ctx: HostContext) -> Outcome:
    """OPS-D-02: the daily review timer runs and its newest review is at most a day old."""
    return _review_outcome(ctx, pending_ok=True)


@check("logs.error_review")
def error_review(ctx: HostContext) -> Outcome:
    """STAB-03: the newest 24-hour review shows no errors from the watched units."""
    return _review_outcome(ctx, pending_ok=False)


@check("config_backup.retention")
def config_backup_retention(ctx: HostContext) -> Outcome:
    """DR-BAK-03: weekly archives of the configuration, kept 12 weeks, newest <= 8 days."""
    fact = ctx.fact(ConfigBackups)
    timer = ctx.fact(LogTimers).get("hardening-config-backup")
    weeks = _setting(ctx, "config_backup_keep_weeks")
    fix = "run deploys/logs.py (it installs hardening-config-backup.timer)"
    if not fact["configured"] or not timer:
        return Outcome.failed("no configuration backup timer", fix=fix)
    archives = fact["archives"]
    evidence = [
        f"timer {timer['calendar']}, keep {fact['keep_weeks']} weeks in {fact['destination']} "
        f"(mode {fact['destination_mode'] or 'missing'})",
        f"{len(archives)} archive(s)",
    ]
    problems = []
    if (fact["keep_weeks"] or 0) < weeks:
        problems.append(f"retention below {weeks} weeks")
    if not (timer["enabled"] and timer["active"]):
        problems.append("timer is not enabled and active")
    if fact["destination_mode"] not in ("700", "750"):
        problems.append("archive directory is readable by others (archives hold secrets)")
    if not archives:
        problems.append("no archive yet")
    else:
        age = (time.time() - archives[-1]["time"]) / DAY
        evidence.append(f"newest {archives[-1]['name']} ({age:.1f} days old)")
        if age > 8:
            problems.append("newest archive is older than 8 days")
    return _verdict(problems, evidence, fix=fix)
