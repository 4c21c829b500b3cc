"""OS baseline values and scheduled security jobs (issue 4: OS baseline, OPS-W-01..03,
OPS-M-01, STAB-06) as plain data shared by operations and checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hardening.firewall_policy import DDOS_SYSCTLS
from hardening.settings import setting

SYSCTL_FILE = "/etc/sysctl.d/61-hardening-baseline.conf"
CORE_LIMITS_FILE = "/etc/security/limits.d/60-hardening-core.conf"
COREDUMP_DROP_IN = "/etc/systemd/coredump.conf.d/60-hardening-baseline.conf"
JOURNALD_DROP_IN = "/etc/systemd/journald.conf.d/60-hardening-baseline.conf"
UNATTENDED_FILE = "/etc/apt/apt.conf.d/52hardening-unattended-upgrades"
JOBS_SCRIPT = "/usr/local/lib/hardening/security-jobs.py"
STATE_DIR = "/var/lib/hardening"

#: dev-sec linux baseline (os-hardening) network sysctls, without SEC-07's DDoS keys
#: (those live in 60-hardening-ddos.conf, see hardening.firewall_policy.DDOS_SYSCTLS).
NET_SYSCTLS: dict[str, int] = {
    key: value
    for key, value in {
        "net.ipv4.ip_forward": 0,
        "net.ipv6.conf.all.forwarding": 0,
        "net.ipv4.conf.all.accept_redirects": 0,
        "net.ipv4.conf.default.accept_redirects": 0,
        "net.ipv6.conf.all.accept_redirects": 0,
        "net.ipv6.conf.default.accept_redirects": 0,
        "net.ipv4.conf.all.secure_redirects": 0,
        "net.ipv4.conf.default.secure_redirects": 0,
        "net.ipv4.conf.all.send_redirects": 0,
        "net.ipv4.conf.default.send_redirects": 0,
        "net.ipv4.conf.all.accept_source_route": 0,
        "net.ipv4.conf.default.accept_source_route": 0,
        "net.ipv6.conf.all.accept_source_route": 0,
        "net.ipv6.conf.default.accept_source_route": 0,
        "net.ipv4.conf.all.log_martians": 1,
        "net.ipv4.conf.default.log_martians": 1,
        "net.ipv6.conf.all.accept_ra": 0,
        "net.ipv6.conf.default.accept_ra": 0,
        "net.ipv4.conf.all.arp_ignore": 1,
        "net.ipv4.conf.all.arp_announce": 2,
    }.items()
    if key not in DDOS_SYSCTLS
}
#: Keys a router needs on (``os_baseline_router``).
ROUTER_SYSCTLS = {"net.ipv4.ip_forward": 1, "net.ipv6.conf.all.forwarding": 1}
#: kernel.* / fs.* keys: read-only inside containers, where they are not applicable.
KERNEL_SYSCTLS: dict[str, int] = {
    "kernel.randomize_va_space": 2,
    "kernel.kptr_restrict": 2,
    "kernel.dmesg_restrict": 1,
    "kernel.sysrq": 0,
    "kernel.yama.ptrace_scope": 1,
    "kernel.core_uses_pid": 1,
    "fs.suid_dumpable": 0,
    "fs.protected_hardlinks": 1,
    "fs.protected_symlinks": 1,
}
CONTAINER_REASON = "container: kernel.* and fs.* sysctls are read-only (set on the host kernel)"

#: Security-only origins for unattended-upgrades (Debian).
SECURITY_ORIGINS = (
    "origin=Debian,codename=${distro_codename}-security,label=Debian-Security",
    "origin=Debian,codename=${distro_codename},label=Debian-Security",
)


def is_kernel_key(key: str) -> bool:
    """True for sysctls a container cannot change (everything outside ``net.*``)."""
    return not key.startswith("net.")


def baseline_sysctls(data: dict[str, Any], container: bool) -> dict[str, int | str]:
    """The sysctls this host should have: net keys, kernel keys unless in a container,
    router forwarding if ``os_baseline_router``, then the ``os_baseline_sysctls`` overrides."""
    values: dict[str, int | str] = dict(NET_SYSCTLS)
    if setting(data, "os_baseline_router"):
        values.update(ROUTER_SYSCTLS)
    if not container:
        values.update(KERNEL_SYSCTLS)
    values.update(setting(data, "os_baseline_sysctls"))
    return {
        key: value
        for key, value in values.items()
        if not (container and is_kernel_key(key)) and key not in DDOS_SYSCTLS
    }


def login_defs(data: dict[str, Any]) -> dict[str, str]:
    """``/etc/login.defs`` password aging and umask for this host."""
    return {
        "PASS_MAX_DAYS": str(setting(data, "os_password_max_days")),
        "PASS_MIN_DAYS": str(setting(data, "os_password_min_days")),
        "PASS_WARN_AGE": str(setting(data, "os_password_warn_age")),
        "UMASK": "027",
    }


@dataclass(frozen=True)
class Job:
    """A scheduled security job: a oneshot service with its timer and its JSON report.

    + unit: systemd unit name (``<unit>.service`` / ``<unit>.timer``)
    + command: sub-command of ``security-jobs.py``
    + report: shell glob of the report files (the newest one is read back)
    + max_age_days: a report older than this means the schedule is not running
    """

    unit: str
    description: str
    command: str
    report: str
    on_calendar: str
    max_age_days: int


JOBS: dict[str, Job] = {
    "log_review": Job(
        "hardening-security-log-review",
        "Weekly security log review (OPS-W-01)",
        "log-review",
        f"{STATE_DIR}/security-review/*.json",
        "Mon *-*-* 06:00",
        8,
    ),
    "updates": Job(
        "hardening-security-updates",
        "Weekly pending security updates check (OPS-W-02)",
        "updates",
        f"{STATE_DIR}/updates/last.json",
        "Mon *-*-* 05:30",
        8,
    ),
    "audit": Job(
        "hardening-security-audit",
        "Monthly security audit with Lynis (OPS-M-01)",
        "audit",
        f"{STATE_DIR}/lynis/last.json",
        "*-*-01 04:00",
        32,
    ),
    "perf": Job(
        "hardening-perf-report",
        "Weekly performance report from Prometheus (OPS-W-03)",
        "perf-report",
        f"{STATE_DIR}/perf/weekly-*.json",
        "Mon *-*-* 07:00",
        8,
    ),
}
