"""OS baseline values and scheduled security jobs (issue 4: OS baseline, OPS-W-01..03,
OPS-M-01, STAB-06) as plain data shared by operations and checks."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatch
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

# -- unused kernel modules, sensitive file permissions, PAM policy, time sync ---------------
MODPROBE_FILE = "/etc/modprobe.d/60-hardening-disable.conf"
MODULES_REASON = "container: kernel modules are loaded by the host kernel (/proc/modules absent)"
FAILLOCK_CONF = "/etc/security/faillock.conf"
PAM_CONFIGS = "/usr/share/pam-configs"
#: pam-auth-update profiles: pam_faillock around pam_unix (CIS layout) and the password policy
PAM_PROFILES = ("hardening-faillock", "hardening-faillock-notify", "hardening-password")
TIMESYNCD_DROP_IN = "/etc/systemd/timesyncd.conf.d/60-hardening.conf"
TIMESYNC_REASON = "container: the clock is the host kernel's (time sync belongs to the host)"


@dataclass(frozen=True)
class Permission:
    """The most a sensitive path may allow: ``mode`` bits, exact owner and group."""

    mode: int
    user: str = "root"
    group: str = "root"
    directory: bool = False

    def problem(self, mode: int, user: str, group: str) -> str:
        """Empty when ``mode``/``user``/``group`` are at most this; else what is wrong."""
        wrong = []
        if mode & ~self.mode:
            wrong.append(f"mode {mode:04o} (want {self.mode:04o} or stricter)")
        if (user, group) != (self.user, self.group):
            wrong.append(f"owner {user}:{group} (want {self.user}:{self.group})")
        return ", ".join(wrong)


#: Sensitive paths (shell globs) -> the permissions they may have (CIS 6.1, dev-sec).
SENSITIVE_PATHS: dict[str, Permission] = {
    "/etc/passwd": Permission(0o644),
    "/etc/group": Permission(0o644),
    "/etc/shadow": Permission(0o640, group="shadow"),
    "/etc/gshadow": Permission(0o640, group="shadow"),
    "/etc/ssh/sshd_config": Permission(0o600),
    "/etc/ssh/ssh_host_*_key": Permission(0o600),
    "/etc/crontab": Permission(0o600),
    **{
        f"/etc/cron.{name}": Permission(0o700, directory=True)
        for name in ("d", "daily", "hourly", "weekly", "monthly")
    },
    "/etc/nftables.conf": Permission(0o600),  # deploys/firewall.py writes it 0600
}


def permission_for(path: str) -> Permission | None:
    """The rule of ``SENSITIVE_PATHS`` that covers a concrete ``path``."""
    return next((rule for glob, rule in SENSITIVE_PATHS.items() if fnmatch(path, glob)), None)


def disabled_modules(data: dict[str, Any]) -> list[str]:
    """Kernel modules this host must not load (``os_disabled_modules``, usb-storage)."""
    modules = list(setting(data, "os_disabled_modules"))
    if setting(data, "os_disable_usb_storage"):
        modules.append("usb-storage")
    return sorted({module.replace("_", "-") for module in modules})


def modprobe_conf(modules: list[str]) -> str:
    """``install <m> /bin/false`` (any load fails) and ``blacklist <m>`` (no alias autoload)."""
    return "".join(f"install {m} /bin/false\nblacklist {m}\n" for m in modules)


def faillock_conf(data: dict[str, Any]) -> dict[str, str]:
    """``/etc/security/faillock.conf`` keys (root is never locked: no ``even_deny_root``)."""
    return {
        "deny": str(setting(data, "os_faillock_deny")),
        "unlock_time": str(setting(data, "os_faillock_unlock_time")),
    }


def pam_profiles(min_length: int) -> dict[str, str]:
    """``/usr/share/pam-configs`` profiles for ``pam-auth-update`` (CIS layout): faillock's
    ``preauth`` before pam_unix and ``authfail`` after it, its account check, and pam_unix
    with ``minlen`` ahead of Debian's own pam_unix password line (``default=die``: a rejected
    password never falls through to the laxer line)."""
    header = ""  # pam-auth-update's profile parser knows no comments
    unix = f"pam_unix.so obscure yescrypt minlen={int(min_length)}"
    chained = unix.replace("obscure", "obscure use_authtok try_first_pass")
    return {
        "hardening-faillock": header + "Name: Lock accounts after failed passwords "
        "(hardening, pam_faillock authfail)\nDefault: yes\nPriority: 0\n"
        "Auth-Type: Primary\nAuth:\n\t[default=die]\tpam_faillock.so authfail\n"
        "\tsufficient\tpam_faillock.so authsucc\n",
        "hardening-faillock-notify": header + "Name: Refuse locked accounts "
        "(hardening, pam_faillock preauth)\nDefault: yes\nPriority: 1024\n"
        "Auth-Type: Primary\nAuth:\n\trequisite\tpam_faillock.so preauth\n"
        "Account-Type: Primary\nAccount:\n\trequired\tpam_faillock.so\n",
        "hardening-password": header + "Name: Password length and strength "
        "(hardening, pam_unix minlen)\nDefault: yes\nPriority: 512\n"
        "Password-Type: Primary\nPassword:\n"
        f"\t[success=end default=die]\t{chained}\n"
        f"Password-Initial:\n\t[success=end default=die]\t{unix}\n",
    }


def pam_problems(fact: dict, faillock: dict[str, str], min_length: int) -> list[str]:
    """What the PAM stack (``PamPolicy`` fact) lacks: faillock before and after pam_unix and
    in account, the ``faillock`` keys, a password length of at least ``min_length``."""
    stack = fact["stack"]
    auth = " | ".join(stack["auth"])
    problems = [
        f"common-auth lacks pam_faillock {mode}"
        for mode in ("preauth", "authfail")
        if f"pam_faillock.so {mode}" not in auth
    ]
    if not any("pam_faillock.so" in line for line in stack["account"]):
        problems.append("common-account lacks pam_faillock")
    problems += [
        f"faillock.conf {key}={fact['faillock'].get(key, 'unset')} (want {value})"
        for key, value in faillock.items()
        if fact["faillock"].get(key) != value
    ]
    first = next((line for line in stack["password"] if "pam_unix" in line), "")
    if not any("pam_pwquality" in line for line in stack["password"]):
        lengths = [int(w[7:]) for w in first.split() if w.startswith("minlen=") and w[7:].isdigit()]
        if not lengths or lengths[0] < min_length:
            problems.append(
                f"pam_unix minlen {lengths[0] if lengths else 'unset'} (want {min_length})"
            )
    return problems
