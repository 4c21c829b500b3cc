"""Scheduled security jobs (OPS-W-01, OPS-W-02, OPS-W-03, OPS-M-01, STAB-06) and the OS
baseline, whose findings are reported in the monthly audit's evidence (OPS-M-01).

Each job check: fail when its timer is missing, disabled, inactive, its last run failed or
its report is older than the schedule allows; pending when the timer exists but never ran;
pass otherwise, with the report's summary as evidence.
"""

from __future__ import annotations

import time
from typing import Any

from pyinfra.facts.server import Sysctl

from hardening.checks import HostContext, check
from hardening.checks.host import ssh_findings
from hardening.facts.host import Virtualization
from hardening.facts.nftables import NftablesRuleset
from hardening.facts.security import (
    FilePermissions,
    JobReport,
    KernelModules,
    OsBaseline,
    PamPolicy,
    TimeSync,
    UnattendedUpgrades,
)
from hardening.facts.ssh import SshdState
from hardening.facts.timers import HardeningTimers
from hardening.nft import uncounted_default_drops
from hardening.results import Outcome
from hardening.security_policy import (
    CONTAINER_REASON,
    JOBS,
    KERNEL_SYSCTLS,
    MODULES_REASON,
    SECURITY_ORIGINS,
    SENSITIVE_PATHS,
    TIMESYNC_REASON,
    Job,
    baseline_sysctls,
    disabled_modules,
    faillock_conf,
    login_defs,
    pam_problems,
    permission_for,
)

FIX_JOBS = "run deploys/os_baseline.py"
DAY = 86400


def timer_problem(unit: str, state: dict) -> str:
    """Why a hardening timer is not running as scheduled; empty when it is fine."""
    if not state["enabled"] or not state["active"]:
        return f"{unit}.timer enabled={state['enabled']} active={state['active']}"
    if state["last_exit"] is not None and (
        state["result"] != "success" or state["exit_status"] not in (0, None)
    ):
        return f"{unit}: last run failed (result {state['result']}, exit {state['exit_status']})"
    return ""


def never_ran(state: dict) -> bool:
    return state["last_exit"] is None and state["last_trigger"] is None


def job_report(ctx: HostContext, job: Job) -> tuple[Outcome | None, dict]:
    """``(outcome, report data)``: an outcome when the job is not healthy, else ``None``."""
    state = ctx.fact(HardeningTimers).get(job.unit)
    if state is None:
        return Outcome.failed(f"{job.unit}.timer is not installed", fix=FIX_JOBS), {}
    problem = timer_problem(job.unit, state)
    if problem:
        return Outcome.failed(problem, fix=f"journalctl -u {job.unit}; {FIX_JOBS}"), {}
    report = ctx.fact(JobReport, path=job.report)
    if not report["present"]:
        if never_ran(state) or state["running"]:
            running = " (running now)" if state["running"] else ""
            return Outcome.pending(
                f"{job.unit}.timer ({job.on_calendar}) has not run yet{running}",
                fix=f"systemctl start {job.unit}.service",
            ), {}
        return Outcome.failed(f"{job.unit} ran but wrote no {job.report}", fix=FIX_JOBS), {}
    age = (time.time() - report["mtime"]) / DAY
    if age > job.max_age_days:
        return Outcome.failed(
            f"{report['path']} is {age:.0f} days old (expected within {job.max_age_days})",
            fix=f"systemctl status {job.unit}.timer",
        ), {}
    if not isinstance(report["data"], dict):
        return Outcome.failed(f"{report['path']} is not a JSON report", fix=FIX_JOBS), {}
    return None, report["data"]


@check("security.weekly_log_review")
def weekly_log_review(ctx: HostContext) -> Outcome:
    outcome, data = job_report(ctx, JOBS["log_review"])
    if outcome:
        return outcome
    drops, default = data.get("firewall_drops"), data.get("firewall_default_drops")
    if drops is not None and default is not None:
        drops = f"{drops} ({default} by the default drop)"
    return Outcome.passed(
        f"last {data.get('days')} days: {data.get('auth_failures')} SSH auth failures "
        f"from {len(data.get('auth_failure_sources', {}))} sources, "
        f"{data.get('sudo_commands')} sudo commands, "
        f"firewall drops {'not counted (no hardening table)' if drops is None else drops}"
    )


def unattended_problems(fact: dict) -> list[str]:
    """What keeps unattended-upgrades from installing (only) security updates."""
    if not fact["installed"]:
        return ["unattended-upgrades is not installed"]
    problems = []
    others = [origin for origin in fact["origins"] if origin not in SECURITY_ORIGINS]
    if others:
        problems.append("non-security origins allowed: " + "; ".join(others))
    if not any("-security" in origin for origin in fact["origins"]):
        problems.append("no security origin")
    if fact["upgrade"] != "1" or fact["update_lists"] != "1":
        problems.append(
            f"APT::Periodic Update-Package-Lists={fact['update_lists'] or 'unset'} "
            f"Unattended-Upgrade={fact['upgrade'] or 'unset'}"
        )
    return problems


@check("security.weekly_updates")
def weekly_updates(ctx: HostContext) -> Outcome:
    problems = unattended_problems(ctx.fact(UnattendedUpgrades))
    if problems:
        return Outcome.failed("unattended-upgrades: " + "; ".join(problems), fix=FIX_JOBS)
    outcome, data = job_report(ctx, JOBS["updates"])
    if outcome:
        return outcome
    pending = [entry["package"] for entry in data.get("security_updates", [])]
    listed = ", ".join(pending[:10]) + (" ..." if len(pending) > 10 else "")
    return Outcome.passed(
        "unattended-upgrades: security origins only; "
        f"{len(pending)} security updates pending{': ' + listed if pending else ''} "
        f"({data.get('upgradable')} upgradable in all)"
    )


def module_findings(fact: dict, wanted: list[str]) -> list[str]:
    """Modules of ``wanted`` that modprobe may still load (or autoload), or that are loaded."""
    loadable = [
        module
        for module in wanted
        if fact["install"].get(module) not in ("/bin/false", "/bin/true")
        or module not in fact["blacklist"]
    ]
    loaded = sorted(set(wanted) & set(fact["loaded"] or ()))
    findings = [f"modules not disabled: {', '.join(loadable)}"] if loadable else []
    return findings + ([f"modules loaded now: {', '.join(loaded)}"] if loaded else [])


def permission_findings(fact: dict) -> list[str]:
    """Sensitive paths (``FilePermissions`` fact) that allow more than the policy."""
    return [
        f"{path} {problem}"
        for path, state in sorted(fact.items())
        if (rule := permission_for(path))
        and (problem := rule.problem(state["mode"], state["user"], state["group"]))
    ]


def time_findings(fact: dict) -> list[str]:
    """No NTP client running or the clock not synchronised."""
    if "active" not in (fact["timesyncd"], fact["chrony"]):
        return ["no NTP client running (systemd-timesyncd or chrony)"]
    return [] if fact["synchronized"] else ["clock not NTP-synchronised (timedatectl)"]


def os_baseline_findings(ctx: HostContext) -> tuple[list[str], str]:
    """``(findings, not-applicable notes)`` of the OS baseline on this host."""
    container = ctx.fact(Virtualization)["container"] != "none"
    expected = baseline_sysctls(ctx.data, container)
    live = ctx.fact(Sysctl, keys=tuple(sorted(expected)))
    findings = [
        f"{key}={live.get(key, 'unset')} (want {value})"
        for key, value in sorted(expected.items())
        if str(live.get(key)) != str(value)
    ]
    os_state = ctx.fact(OsBaseline)
    for who in ("*", "root"):
        limit = os_state["core_hard_limits"].get(who)
        if limit != "0":
            findings.append(f"core dump hard limit for {who} {limit or 'unset'}")
    if (os_state["coredump_storage"] or "").lower() != "none":
        findings.append(f"systemd-coredump Storage={os_state['coredump_storage'] or 'default'}")
    if os_state["journald_storage"] != "persistent":
        findings.append(f"journald Storage={os_state['journald_storage'] or 'auto'}")
    for key, value in login_defs(ctx.data).items():
        if os_state["login_defs"].get(key) != value:
            findings.append(f"login.defs {key} {os_state['login_defs'].get(key, 'unset')}")
    modules = ctx.fact(KernelModules)
    findings += module_findings(modules, disabled_modules(ctx.data))
    findings += permission_findings(ctx.fact(FilePermissions, globs=tuple(SENSITIVE_PATHS)))
    pam = ctx.fact(PamPolicy)
    min_length = int(ctx.setting("os_password_min_length", 12))
    findings += pam_problems(pam, faillock_conf(ctx.data), min_length)
    findings += [f"firewall default drop not counted ({chain})"
                 for chain in uncounted_default_drops(ctx.fact(NftablesRuleset))]  # fmt: skip
    notes = []
    if container:
        notes.append(f"{len(KERNEL_SYSCTLS)} kernel sysctls n/a ({CONTAINER_REASON})")
        notes.append(f"time sync n/a ({TIMESYNC_REASON})")
    else:
        findings += time_findings(ctx.fact(TimeSync))
    if modules["loaded"] is None:
        notes.append(f"loaded modules not checked ({MODULES_REASON})")
    if not pam["pwquality"]:
        notes.append("libpam-pwquality not installed: password length from pam_unix minlen")
    return findings, "; ".join(notes)


def _summary(name: str, findings: list[str]) -> str:
    return f"{name}: " + ("; ".join(findings) if findings else "no findings")


@check("security.monthly_audit")
def monthly_audit(ctx: HostContext) -> Outcome:
    baseline, note = os_baseline_findings(ctx)
    ssh = ssh_findings(
        ctx.fact(SshdState),
        int(ctx.setting("ssh_max_auth_tries", 3)),
        int(ctx.setting("ssh_login_grace_time", 30)),
    )
    context = "; ".join(
        part for part in (_summary("OS baseline", baseline), note, _summary("SSH", ssh)) if part
    )
    outcome, data = job_report(ctx, JOBS["audit"])
    if outcome:
        return Outcome(outcome.status, f"{outcome.evidence}; {context}", outcome.fix)
    warnings = [f"{w.get('id')} {w.get('text')}" for w in data.get("warnings", [])]
    return Outcome.passed(
        f"Lynis {data.get('lynis_version')} hardening index {data.get('hardening_index')}, "
        f"{len(warnings)} warnings{': ' + '; '.join(warnings) if warnings else ''}, "
        f"{data.get('suggestions')} suggestions; {context}"
    )


def _ratio(metric: dict[str, Any], scale: float, unit: str) -> str:
    this, previous = metric.get("this_week"), metric.get("previous_week")
    shown = "no data" if this is None else f"{this * scale:.1f}{unit}"
    return shown + ("" if previous is None else f" (previous week {previous * scale:.1f}{unit})")


@check("monitoring.weekly_perf_report")
def weekly_perf_report(ctx: HostContext) -> Outcome:
    outcome, data = job_report(ctx, JOBS["perf"])
    if outcome:
        return outcome
    metrics = data.get("metrics", {})
    return Outcome.passed(
        f"{data.get('prometheus')} ({int(data.get('targets_up') or 0)} targets up): "
        f"p95 latency {_ratio(metrics.get('p95_latency_seconds', {}), 1000, ' ms')}, "
        f"CPU {_ratio(metrics.get('cpu_busy_ratio', {}), 100, '%')}, "
        f"memory {_ratio(metrics.get('memory_used_ratio', {}), 100, '%')}"
    )


@check("host.scheduled_jobs")
def scheduled_jobs(ctx: HostContext) -> Outcome:
    timers = ctx.fact(HardeningTimers)
    if not timers:
        return Outcome.failed("no hardening-* timers on this host", fix=FIX_JOBS)
    problems = [p for unit, state in sorted(timers.items()) if (p := timer_problem(unit, state))]
    waiting = sorted(unit for unit, state in timers.items() if never_ran(state))
    if problems:
        return Outcome.failed("; ".join(problems), fix="journalctl -u <unit>; " + FIX_JOBS)
    waiting_note = f"; not run yet: {', '.join(waiting)}" if waiting else ""
    if len(waiting) == len(timers):
        return Outcome.pending(f"{len(timers)} timers enabled, none has run yet")
    return Outcome.passed(
        f"{len(timers)} hardening timers enabled and active, last runs succeeded{waiting_note}"
    )
