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
from hardening.facts.security import JobReport, OsBaseline, UnattendedUpgrades
from hardening.facts.ssh import SshdState
from hardening.facts.timers import HardeningTimers
from hardening.firewall_policy import DDOS_SYSCTLS
from hardening.operations._render import render
from hardening.results import Status
from hardening.security_policy import (
    JOBS,
    KERNEL_SYSCTLS,
    NET_SYSCTLS,
    baseline_sysctls,
)

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
    }
    outcome = check(context({LOG.unit: timer()}, {LOG.report: report(data)}))
    assert outcome.status is Status.PASS
    assert (
        "3 SSH auth failures from 1 sources, 2 sudo commands, firewall drops 5" in outcome.evidence
    )


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
    fresh = check(context({}, None, {OsBaseline: OsBaseline.default()}))
    assert fresh.status is Status.FAIL and "journald Storage=auto" in fresh.evidence


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
    nft = {
        "nftables": [{"rule": {"expr": [{"counter": {"packets": 7, "bytes": 1}}, {"drop": None}]}}]
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
    assert data["firewall_drops"] == 7
