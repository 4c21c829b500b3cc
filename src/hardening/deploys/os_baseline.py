"""OS baseline (issue 4) and the scheduled security jobs (OPS-W-01..03, OPS-M-01, STAB-06)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from hardening.deploys._common import in_groups, require_valid_data
from hardening.facts.host import Virtualization
from hardening.operations import firewall as firewall_ops
from hardening.operations import os_baseline as os_ops
from hardening.operations import security_timers
from hardening.security_policy import (
    SYSCTL_FILE,
    baseline_sysctls,
    disabled_modules,
    faillock_conf,
    login_defs,
)
from hardening.settings import setting


@deploy("OS baseline: sysctls, core dumps, passwords, journal, modules, permissions, time")
def os_baseline() -> None:
    """dev-sec style baseline; kernel.* sysctls and time sync only outside containers."""
    data = host.data.dict()
    require_valid_data()
    container = host.get_fact(Virtualization)["container"] != "none"
    firewall_ops.sysctls(
        name="Baseline sysctls (redirects, source routing, martians, forwarding)",
        values=baseline_sysctls(data, container),
        path=SYSCTL_FILE,
    )
    os_ops.core_dumps(name="Core dumps off")
    os_ops.login_defs(name="Password aging and umask for new accounts", values=login_defs(data))
    os_ops.persistent_journal(name="Persistent journal")
    os_ops.unattended_upgrades(name="unattended-upgrades: security updates only")
    os_ops.kernel_modules(name="Unused filesystems and protocols", modules=disabled_modules(data))
    os_ops.file_permissions(name="Sensitive file permissions")
    os_ops.pam_policy(
        name="PAM: lock after failed passwords, minimum password length",
        faillock=faillock_conf(data),
        min_length=setting(data, "os_password_min_length"),
    )
    if not container:
        os_ops.time_sync(name="Time sync (NTP)", servers=setting(data, "os_ntp_servers"))


@deploy("Scheduled security jobs: log review, update check, Lynis audit, performance report")
def security_jobs() -> None:
    """Timers on every host; the performance report on monitoring hosts only."""
    run_now = bool(setting(host.data, "security_jobs_run_now"))
    security_timers.jobs_script(name="Security jobs script")
    security_timers.log_review_timer(name="Weekly security log review", run_now=run_now)
    security_timers.update_check_timer(name="Weekly security update check", run_now=run_now)
    security_timers.audit_timer(
        name="Monthly Lynis audit",
        timeout=setting(host.data, "security_lynis_timeout"),
        run_now=run_now,
    )
    if in_groups("monitoring"):
        security_timers.perf_report_timer(
            name="Weekly performance report",
            prometheus_url=setting(host.data, "perf_report_prometheus_url"),
            run_now=run_now,
        )
