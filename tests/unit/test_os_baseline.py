"""OS baseline and scheduled security jobs: policy, fact parsers on captured output, checks on
canned facts, and the job script's parsing (rendered, run with canned command output)."""

from __future__ import annotations

import json
import subprocess
import time
import types
from pathlib import Path
from typing import Any

import pytest
from pyinfra.facts.server import Sysctl

from hardening.checks import HostContext, registry
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
from hardening.firewall_policy import DDOS_SYSCTLS
from hardening.operations import os_baseline as os_baseline_ops
from hardening.operations._render import render
from hardening.results import Status
from hardening.security_policy import (
    JOBS,
    KERNEL_SYSCTLS,
    NET_SYSCTLS,
    Permission,
    baseline_sysctls,
    disabled_modules,
    modprobe_conf,
    pam_problems,
    pam_profiles,
)
from tests.unit.test_monitoring_operations import FakeHost, commands, text

CHECKS = registry()
NOW = time.time()

# Captured on a testbed host (Debian 12) after deploys/os_baseline.py.
TIMERS_OUTPUT = """#timer=hardening-security-audit.timer
Unit=hardening-security-audit.service
LastTriggerUSec=
ActiveState=active
UnitFileState=enabled
#service
Result=success
ExecMainExitTimestamp=@1795799146
ExecMainStatus=0
ActiveState=inactive
#timer=hardening-security-updates.timer
Unit=hardening-security-updates.service
LastTriggerUSec=@1795799000
ActiveState=active
UnitFileState=enabled
#service
Result=exit-code
ExecMainExitTimestamp=@1795799086
ExecMainStatus=1
ActiveState=inactive
#timer=hardening-perf-report.timer
Unit=hardening-perf-report.service
LastTriggerUSec=
ActiveState=inactive
UnitFileState=disabled
#service
Result=success
ExecMainExitTimestamp=
ExecMainStatus=0
ActiveState=inactive
#end""".splitlines()
OS_OUTPUT = """core.*=0
core.root=0
coredump_storage=none
journald_storage=persistent
journal_dir=yes
login.UMASK=027
login.PASS_MAX_DAYS=60
login.PASS_MIN_DAYS=7
login.PASS_WARN_AGE=7
#end""".splitlines()
UU_FRESH = [
    "status:install ok installed",
    'APT::Periodic::Update-Package-Lists "1";',
    'APT::Periodic::Unattended-Upgrade "1";',
    'Unattended-Upgrade::Origins-Pattern:: "origin=Debian,codename=${distro_codename},label=Debian";',
    'Unattended-Upgrade::Origins-Pattern:: "origin=Debian,codename=${distro_codename}-security,'
    'label=Debian-Security";',
]
UU_HARDENED = [line for line in UU_FRESH if 'label=Debian"' not in line]
# Captured on a testbed host (Debian 12, a container) after deploys/os_baseline.py.
MODULES_OUTPUT = [
    line
    for module in (
        "cramfs",
        "dccp",
        "freevxfs",
        "hfs",
        "hfsplus",
        "jffs2",
        "rds",
        "sctp",
        "tipc",
        "udf",
        "usb-storage",
    )  # fmt: skip
    for line in (f"install {module} /bin/false", f"blacklist {module}")
] + ["#no-proc-modules"]
PERMISSIONS_OUTPUT = """644 root root /etc/passwd
640 root shadow /etc/shadow
600 root root /etc/ssh/sshd_config
600 root root /etc/ssh/ssh_host_ed25519_key
600 root root /etc/crontab
700 root root /etc/cron.d
600 root root /etc/nftables.conf
#end""".splitlines()
PAM_OUTPUT = """common-auth:auth\trequisite\tpam_faillock.so preauth
common-auth:auth\t[success=3 default=ignore]\tpam_unix.so nullok try_first_pass
common-auth:auth\t[default=die]\tpam_faillock.so authfail
common-auth:auth\tsufficient\tpam_faillock.so authsucc
common-account:account\trequired\tpam_faillock.so
common-account:account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so
common-password:password\t[success=2 default=die]\tpam_unix.so obscure yescrypt minlen=12
common-password:password\t[success=1 default=ignore]\tpam_unix.so obscure use_authtok yescrypt
faillock.conf:deny = 5
faillock.conf:unlock_time = 900
pwquality:""".splitlines()
# ... and on a fresh one (Debian's defaults)
PAM_FRESH = """common-auth:auth\t[success=1 default=ignore]\tpam_unix.so nullok
common-account:account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so
common-password:password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt
pwquality:""".splitlines()
PERMISSIONS_FRESH = [
    "644 root root /etc/ssh/sshd_config",
    "755 root root /etc/cron.d",
    "640 root shadow /etc/shadow",
    "#end",
]


def test_baseline_never_duplicates_the_ddos_sysctls() -> None:
    assert not set(NET_SYSCTLS) & set(DDOS_SYSCTLS)
    data = {"os_baseline_sysctls": {"net.ipv4.tcp_syncookies": 0, "net.ipv4.conf.all.rp_filter": 2}}
    assert not set(baseline_sysctls(data, container=False)) & set(DDOS_SYSCTLS)


def test_kernel_sysctls_only_outside_containers_and_router_forwarding() -> None:
    inside = baseline_sysctls({}, container=True)
    assert all(key.startswith("net.") for key in inside)
    assert inside["net.ipv4.ip_forward"] == 0 and inside["net.ipv4.conf.all.log_martians"] == 1
    outside = baseline_sysctls({"os_baseline_router": True}, container=False)
    assert set(KERNEL_SYSCTLS) <= set(outside) and outside["net.ipv4.ip_forward"] == 1
    override = baseline_sysctls({"os_baseline_sysctls": {"kernel.sysrq": 1}}, container=True)
    assert "kernel.sysrq" not in override


def test_fact_parsers() -> None:
    timers = HardeningTimers().process(TIMERS_OUTPUT)
    audit = timers["hardening-security-audit"]
    assert audit == {
        "enabled": True,
        "active": True,
        "last_trigger": None,
        "service": "hardening-security-audit.service",
        "running": False,
        "result": "success",
        "exit_status": 0,
        "last_exit": 1795799146.0,
    }
    assert timers["hardening-security-updates"]["exit_status"] == 1
    assert OsBaseline().process(OS_OUTPUT)["login_defs"]["PASS_MAX_DAYS"] == "60"
    assert OsBaseline().process(["#end"]) == OsBaseline.default()
    fresh = UnattendedUpgrades().process(UU_FRESH)
    assert fresh["installed"] and fresh["upgrade"] == "1" and len(fresh["origins"]) == 2
    report = JobReport().process(
        ["#file=1795799146 /var/lib/hardening/updates/last.json", "{", '"a": 1}']
    )
    assert report == {
        "present": True,
        "path": "/var/lib/hardening/updates/last.json",
        "mtime": 1795799146.0,
        "data": {"a": 1},
    }
    assert JobReport().process(["#absent"]) == {"present": False}


def timer(**changes: Any) -> dict:
    state = {
        "enabled": True,
        "active": True,
        "last_trigger": None,
        "service": "x.service",
        "running": False,
        "result": "success",
        "exit_status": 0,
        "last_exit": NOW - 60,
    }
    return {**state, **changes}


def report(data: dict, age_days: float = 0.1) -> dict:
    return {"present": True, "path": "/r.json", "mtime": NOW - age_days * 86400, "data": data}


def context(
    timers: dict, reports: dict[str, dict] | None = None, facts: dict[type, Any] | None = None
) -> HostContext:
    values: dict[type, Any] = {
        HardeningTimers: timers,
        UnattendedUpgrades: UnattendedUpgrades().process(UU_HARDENED),
        OsBaseline: OsBaseline().process(OS_OUTPUT),
        Virtualization: {"container": "lxc", "vm": "none"},
        Sysctl: dict(NET_SYSCTLS),
        SshdState: {"installed": False},
        KernelModules: KernelModules().process(MODULES_OUTPUT),
        FilePermissions: FilePermissions().process(PERMISSIONS_OUTPUT),
        PamPolicy: PamPolicy().process(PAM_OUTPUT),
        NftablesRuleset: NftablesRuleset.default(),
        TimeSync: TimeSync.default(),
        **(facts or {}),
    }

    def getter(fact_class: type, **kwargs: Any) -> Any:
        if fact_class is JobReport:
            return (reports or {}).get(kwargs["path"], {"present": False})
        return values[fact_class]

    return HostContext("h1", ("monitoring",), {}, getter)


LOG = JOBS["log_review"]


def test_job_check_missing_pending_failed_stale_and_passed() -> None:
    check = CHECKS["security.weekly_log_review"]
    assert check(context({})).status is Status.FAIL
    never = timer(last_exit=None)
    outcome = check(context({LOG.unit: never}))
    assert outcome.status is Status.PENDING and "has not run yet" in outcome.evidence
    failed = timer(result="exit-code", exit_status=1)
    assert "last run failed" in check(context({LOG.unit: failed})).evidence
    assert check(context({LOG.unit: timer(enabled=False)})).status is Status.FAIL
    stale = {LOG.report: report({"days": 7}, age_days=20)}
    assert "20 days old" in check(context({LOG.unit: timer()}, stale)).evidence
    data = {
        "days": 7,
        "auth_failures": 3,
        "auth_failure_sources": {"10.0.0.9": 3},
        "sudo_commands": 2,
        "firewall_drops": 5,
        "firewall_default_drops": 4,
    }
    outcome = check(context({LOG.unit: timer()}, {LOG.report: report(data)}))
    assert outcome.status is Status.PASS
    assert "2 sudo commands, firewall drops 5 (4 by the default drop)" in outcome.evidence


def test_updates_need_security_only_origins() -> None:
    check = CHECKS["security.weekly_updates"]
    job = JOBS["updates"]
    fresh = {UnattendedUpgrades: UnattendedUpgrades().process(UU_FRESH)}
    outcome = check(context({job.unit: timer()}, None, fresh))
    assert outcome.status is Status.FAIL and "non-security origins" in outcome.evidence
    data = {"upgradable": 3, "security_updates": [{"package": "openssl"}]}
    outcome = check(context({job.unit: timer()}, {job.report: report(data)}))
    assert (
        outcome.status is Status.PASS and "1 security updates pending: openssl" in outcome.evidence
    )


def test_monthly_audit_reports_baseline_and_ssh_findings() -> None:
    check = CHECKS["security.monthly_audit"]
    job = JOBS["audit"]
    data = {
        "lynis_version": "3.0.8",
        "hardening_index": 65,
        "suggestions": 40,
        "warnings": [{"id": "PKGS-7392", "text": "vulnerable packages"}],
    }
    sysctls = {**NET_SYSCTLS, "net.ipv4.conf.all.send_redirects": 1}
    sshd = {"installed": True, "config": {"passwordauthentication": "yes"}}
    outcome = check(
        context({job.unit: timer()}, {job.report: report(data)}, {Sysctl: sysctls, SshdState: sshd})
    )
    assert outcome.status is Status.PASS
    assert "hardening index 65, 1 warnings: PKGS-7392" in outcome.evidence
    assert "net.ipv4.conf.all.send_redirects=1 (want 0)" in outcome.evidence
    assert "kernel sysctls n/a (container" in outcome.evidence
    assert "SSH: passwordauthentication yes" in outcome.evidence
    assert "OS baseline: no findings" in check(context({}, None)).evidence
    fresh = check(context({}, None, {OsBaseline: OsBaseline.default()}))
    assert fresh.status is Status.FAIL and "journald Storage=auto" in fresh.evidence


def test_fact_parsers_for_modules_permissions_pam_and_time() -> None:
    modules = KernelModules().process(MODULES_OUTPUT)
    assert modules["install"]["usb-storage"] == "/bin/false" and "udf" in modules["blacklist"]
    assert modules["loaded"] is None
    loaded = KernelModules().process(["install usb_storage /bin/true", "#loaded", "sctp 1 0"])
    assert loaded == {"install": {"usb-storage": "/bin/true"}, "blacklist": [], "loaded": ["sctp"]}
    perms = FilePermissions().process(PERMISSIONS_OUTPUT)
    assert perms["/etc/shadow"] == {"mode": 0o640, "user": "root", "group": "shadow"}
    assert FilePermissions().process(["#end"]) == {}
    pam = PamPolicy().process(PAM_OUTPUT)
    assert pam["stack"]["auth"][0] == "requisite pam_faillock.so preauth"
    assert pam["faillock"] == {"deny": "5", "unlock_time": "900"} and not pam["pwquality"]
    assert PamPolicy().process(["pwquality:install ok installed"])["pwquality"]
    time_sync = TimeSync().process(
        ["timesyncd:active", "chrony:inactive", "synchronized:yes", "servers:a.ntp b.ntp"]
    )
    assert time_sync == {"timesyncd": "active", "chrony": "inactive", "synchronized": True,
                         "servers": ["a.ntp", "b.ntp"]}  # fmt: skip


def test_policy_modules_profiles_and_permissions() -> None:
    assert "usb-storage" in disabled_modules({}) and "squashfs" not in disabled_modules({})
    chosen = {"os_disabled_modules": ["squashfs", "usb_storage"], "os_disable_usb_storage": False}
    assert disabled_modules(chosen) == ["squashfs", "usb-storage"]
    assert modprobe_conf(["udf"]) == "install udf /bin/false\nblacklist udf\n"
    profiles = pam_profiles(14)
    assert "minlen=14" in profiles["hardening-password"]
    assert "pam_faillock.so preauth" in profiles["hardening-faillock-notify"]
    assert all("#" not in text for text in profiles.values())  # pam-auth-update: no comments
    shadow = Permission(0o640, group="shadow")
    assert shadow.problem(0o600, "root", "shadow") == ""  # stricter is fine
    assert shadow.problem(0o644, "root", "root") == (
        "mode 0644 (want 0640 or stricter), owner root:root (want root:shadow)"
    )


def test_pam_problems_fresh_hardened_and_pwquality() -> None:
    faillock = {"deny": "5", "unlock_time": "900"}
    assert pam_problems(PamPolicy().process(PAM_OUTPUT), faillock, 12) == []
    assert pam_problems(PamPolicy().process(PAM_OUTPUT), faillock, 14) == [
        "pam_unix minlen 12 (want 14)"
    ]
    fresh = pam_problems(PamPolicy().process(PAM_FRESH), faillock, 12)
    assert fresh == [
        "common-auth lacks pam_faillock preauth",
        "common-auth lacks pam_faillock authfail",
        "common-account lacks pam_faillock",
        "faillock.conf deny=unset (want 5)",
        "faillock.conf unlock_time=unset (want 900)",
        "pam_unix minlen unset (want 12)",
    ]
    quality = PamPolicy().process(
        [*PAM_FRESH, "common-password:password\trequisite\tpam_pwquality.so"]
    )
    assert "pam_unix minlen unset (want 12)" not in pam_problems(quality, {}, 12)


def test_new_baseline_findings_on_a_fresh_host_and_outside_containers() -> None:
    check = CHECKS["security.monthly_audit"]
    fresh = {
        KernelModules: KernelModules().process(["#loaded", "sctp 1 0", "ext4 1 0"]),
        FilePermissions: FilePermissions().process(PERMISSIONS_FRESH),
        PamPolicy: PamPolicy().process(PAM_FRESH),
        Virtualization: {"container": "none", "vm": "kvm"},
        Sysctl: {**NET_SYSCTLS, **KERNEL_SYSCTLS},
        TimeSync: TimeSync().process(["timesyncd:inactive", "chrony:inactive", "synchronized:no"]),
    }
    evidence = check(context({}, None, fresh)).evidence
    for finding in (
        "modules not disabled: cramfs, dccp,",
        "modules loaded now: sctp;",
        "/etc/ssh/sshd_config mode 0644 (want 0600 or stricter)",
        "/etc/cron.d mode 0755 (want 0700 or stricter)",
        "common-auth lacks pam_faillock preauth",
        "no NTP client running (systemd-timesyncd or chrony)",
    ):
        assert finding in evidence, evidence
    assert "/etc/shadow" not in evidence and "n/a" not in evidence
    synced = TimeSync().process(["timesyncd:active", "synchronized:no"])
    late = check(context({}, None, {**fresh, TimeSync: synced})).evidence
    assert "clock not NTP-synchronised" in late
    inside = check(context({}, None)).evidence
    assert "time sync n/a (container" in inside and "loaded modules not checked" in inside
    assert "libpam-pwquality not installed" in inside


def test_scheduled_jobs() -> None:
    check = CHECKS["host.scheduled_jobs"]
    assert check(context({})).status is Status.FAIL
    assert check(context({"a": timer(last_exit=None)})).status is Status.PENDING
    outcome = check(context({"a": timer(), "b": timer(last_exit=None)}))
    assert outcome.status is Status.PASS and "not run yet: b" in outcome.evidence
    timers = HardeningTimers().process(TIMERS_OUTPUT)
    outcome = check(context(timers))
    assert outcome.status is Status.FAIL
    assert "hardening-perf-report.timer enabled=False" in outcome.evidence
    assert (
        "hardening-security-updates: last run failed (result exit-code, exit 1)" in outcome.evidence
    )


@pytest.fixture
def jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The rendered job script as a module, writing into ``tmp_path``."""
    module = types.ModuleType("security_jobs")
    exec(compile(render("security-jobs.py.j2"), "security-jobs.py", "exec"), module.__dict__)
    module.STATE = str(tmp_path)
    return module


def fake_run(outputs: dict[str, str], returncode: int = 0):
    def run(*command: str, timeout: int = 300) -> subprocess.CompletedProcess:
        return subprocess.CompletedProcess(command, returncode, outputs.get(command[0], ""), "")

    return run


def test_update_job_keeps_only_the_security_suite(jobs, tmp_path: Path) -> None:
    jobs.run = fake_run(
        {
            "apt": (
                "Listing...\n"
                "openssl/oldstable-security 3.0.17-1~deb12u2 amd64 [upgradable from: 3.0.9-1]\n"
                "tzdata/stable-updates 2025b-0+deb12u1 all [upgradable from: 2024a-0+deb12u1]\n"
            )
        }
    )
    assert jobs.updates() == 0
    data = json.loads((tmp_path / "updates" / "last.json").read_text())
    assert data["upgradable"] == 2 and data["lists_refreshed"]
    assert data["security_updates"] == [
        {"package": "openssl", "version": "3.0.17-1~deb12u2", "installed": "3.0.9-1"}
    ]


def test_audit_job_reads_lynis_report(jobs, tmp_path: Path) -> None:
    (tmp_path / "lynis").mkdir()
    (tmp_path / "lynis" / "report.dat").write_text(
        "lynis_version=3.0.8\nhardening_index=65\n"
        "warning[]=PKGS-7392|Found one or more vulnerable packages.|-|-|\nsuggestion[]=A|b\n"
    )
    jobs.run = fake_run({})
    assert jobs.audit(10) == 0
    data = json.loads((tmp_path / "lynis" / "last.json").read_text())
    assert data["hardening_index"] == 65 and data["suggestions"] == 1
    assert data["warnings"] == [
        {"id": "PKGS-7392", "text": "Found one or more vulnerable packages."}
    ]


def test_log_review_counts_failures_sudo_and_drops(jobs, tmp_path: Path) -> None:
    sshd = (
        "Failed password for root from 10.0.0.9 port 4242 ssh2\n"
        "Invalid user admin from 10.0.0.8 port 4243\nAccepted publickey for root\n"
    )
    sudo = "    ops : PWD=/ ; USER=root ; COMMAND=/bin/true\n"
    counted = {"counter": {"packets": 2, "bytes": 1}}
    nft = {
        "nftables": [
            {"rule": {"expr": [{"counter": {"packets": 7, "bytes": 1}}, {"drop": None}]}},
            {"rule": {"expr": [counted, {"drop": None}], "comment": "hardening-default-drop"}},
            {"rule": {"expr": [{"counter": {"packets": 9, "bytes": 1}}, {"accept": None}]}},
        ]
    }

    def run(*command: str, timeout: int = 300) -> subprocess.CompletedProcess:
        out = json.dumps(nft) if command[0] == "nft" else (sudo if "sudo" in command else sshd)
        return subprocess.CompletedProcess(command, 0, out, "")

    jobs.run = run
    assert jobs.log_review() == 0
    (written,) = (tmp_path / "security-review").iterdir()
    data = json.loads(written.read_text())
    assert data["auth_failures"] == 2 and data["auth_failure_sources"] == {
        "10.0.0.9": 1,
        "10.0.0.8": 1,
    }
    assert data["sudo_commands"] == 1 and data["sudo_users"] == {"ops": 1}
    assert data["firewall_drops"] == 9 and data["firewall_default_drops"] == 2


def test_permissions_operation_changes_only_what_allows_too_much() -> None:
    live = FilePermissions().process(PERMISSIONS_FRESH)  # sshd_config 0644, cron.d 0755
    fake = FakeHost(
        FilePermissions=live,
        File={"mode": 644, "user": "root", "group": "root"},
        Directory={"mode": 755, "user": "root", "group": "root"},
    )
    done = [text(command) for command in commands(os_baseline_ops.file_permissions, fake)]
    assert done == ["chmod 700 /etc/cron.d", "chmod 600 /etc/ssh/sshd_config"]
    hardened = FakeHost(FilePermissions=FilePermissions().process(PERMISSIONS_OUTPUT))
    assert commands(os_baseline_ops.file_permissions, hardened) == []
    assert hardened.noops == ["7 sensitive paths have their permissions"]
