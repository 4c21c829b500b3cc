"""OS baseline and scheduled security jobs (OPS-W-01..03, OPS-M-01, STAB-06) on real hosts:
fresh hosts fail, deploys/os_baseline.py makes them pass (each job ran once), a rerun changes
nothing, failed passwords lock a user but not root's key login, a failing job is reported,
and what the jobs saw never reaches any output."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest

from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes, statuses

ITEMS = ("OPS-W-01", "OPS-W-02", "OPS-M-01", "STAB-06")
TOKEN = "tok" + secrets.token_hex(12)


@pytest.fixture(scope="module")
def bed(module_bed):
    """A failed SSH login as user TOKEN and a sudo command with TOKEN as argument on tb1:
    the weekly log review must count both and never copy the text."""
    tb1 = next(host for host in module_bed.hosts if host.name == "tb1")
    subprocess.run(
        ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o",
         "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
         f"{TOKEN}@{tb1.address}", "true"],
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    module_bed.run("tb1", f"sudo -u nobody /bin/echo {TOKEN} >/dev/null")
    return module_bed


@pytest.fixture(scope="module")
def deployed(bed) -> list[subprocess.CompletedProcess]:
    """The first deploy and its idempotent rerun (``-v``)."""
    first = bed.pyinfra("deploys/os_baseline.py")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert pyinfra_changes(first) > 0
    second = bed.pyinfra("deploys/os_baseline.py", "-v")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    return [first, second]


def test_fresh_hosts_fail(bed, tmp_path: Path) -> None:
    _, report = audit_json(bed, tmp_path)
    found = statuses(report)
    for host in ("tb1", "tb2"):
        for item in ITEMS:
            assert found[(host, item)] == "fail", (host, item, evidence(report, host, item))
        audit = evidence(report, host, "OPS-M-01")
        for finding in (
            "log_martians=0",
            "send_redirects=1",
            "journald Storage=auto",
            "core dump hard limit for root unset",
            "login.defs PASS_MAX_DAYS 99999",
            "modules not disabled: cramfs, dccp, freevxfs,",
            "/etc/ssh/sshd_config mode 0644 (want 0600 or stricter)",
            "/etc/cron.d mode 0755 (want 0700 or stricter)",
            "common-auth lacks pam_faillock preauth",
            "faillock.conf deny=unset (want 5)",
            "pam_unix minlen unset (want 12)",
            "time sync n/a (container",
            "libpam-pwquality not installed",
        ):
            assert finding in audit, audit  # fmt: skip
        assert "kernel sysctls n/a (container" in audit
    assert found[("tb1", "OPS-W-03")] == "fail"
    assert found[("tb2", "OPS-W-03")] == "not_applicable"
    assert "non-security origins" in evidence(report, "tb1", "OPS-W-02")
    assert "no hardening-* timers" in evidence(report, "tb1", "STAB-06")


def test_deploy_makes_them_pass_and_a_rerun_changes_nothing(bed, deployed, tmp_path) -> None:
    assert pyinfra_changes(deployed[1]) == 0, deployed[1].stdout[-3000:]
    _, report = audit_json(bed, tmp_path)
    found = statuses(report)
    for host in ("tb1", "tb2"):
        for item in ITEMS:
            assert found[(host, item)] == "pass", (host, item, evidence(report, host, item))
        assert "OS baseline: no findings" in evidence(report, host, "OPS-M-01")
        assert "hardening index" in evidence(report, host, "OPS-M-01")
    assert found[("tb1", "OPS-W-03")] == "pass", evidence(report, "tb1", "OPS-W-03")
    assert "targets up" in evidence(report, "tb1", "OPS-W-03")
    review = evidence(report, "tb1", "OPS-W-01")
    assert "0 SSH auth failures" not in review and "0 sudo commands" not in review, review
    assert "4 hardening timers" in evidence(report, "tb1", "STAB-06")
    # what the host really does, beyond what the facts say
    sysctl_file = bed.run("tb2", "cat /etc/sysctl.d/61-hardening-baseline.conf")
    assert "net.ipv4.conf.all.log_martians = 1" in sysctl_file
    assert "tcp_syncookies" not in sysctl_file and "kernel." not in sysctl_file
    assert bed.run("tb2", "ulimit -Hc").strip() == "0"  # pam_limits on the SSH session
    origins = bed.run("tb2", "apt-config dump | grep Origins-Pattern::")
    assert 'label=Debian"' not in origins and "-security" in origins
    assert "install usb-storage /bin/false" in bed.run(
        "tb2", "cat /etc/modprobe.d/60-hardening-disable.conf"
    )
    assert bed.run("tb2", "stat -c %a /etc/ssh/sshd_config /etc/cron.d").split() == ["600", "700"]


def test_failed_passwords_lock_a_user_but_never_root_over_ssh_keys(bed, deployed) -> None:
    """Six wrong passwords (sudo -S as a test user: common-auth) lock the user, so even its
    right password is refused; root's SSH key login still works. The password is made and
    kept on the host (0600 file), never on a command line or in the output."""
    bed.run(
        "tb2",
        "useradd -m hblock && umask 077 && head -c 18 /dev/urandom | base64 > /root/hblock.pw"
        " && { printf 'hblock:'; cat /root/hblock.pw; } | chpasswd",
    )
    sudo = "runuser -u hblock -- sudo -S -k -p '' true"
    right = bed.ssh("tb2", f"{sudo} </root/hblock.pw")
    assert "not in the sudoers file" in right.stderr, right.stderr  # authenticated
    for _ in range(2):  # sudo asks three times per call
        bed.ssh("tb2", f"printf 'wrong\\nwrong\\nwrong\\n' | {sudo}")
    locked = bed.ssh("tb2", f"{sudo} </root/hblock.pw")
    assert "incorrect password" in locked.stderr, locked.stderr  # the right one is refused now
    assert "hblock" in bed.run("tb2", "faillock --user hblock")
    assert bed.ssh("tb2", "true").returncode == 0  # root with its key
    root_records = bed.run("tb2", "faillock --user root").strip().splitlines()
    assert len(root_records) <= 2, root_records  # "root:" and the table header, no failures
    right_password = bed.run("tb2", "cat /root/hblock.pw").strip()
    assert right_password not in right.stdout + right.stderr + locked.stdout + locked.stderr


def test_a_failing_job_is_reported(bed, deployed, tmp_path: Path) -> None:
    unit = "hardening-security-updates"
    override = f"/run/systemd/system/{unit}.service.d"
    bed.run("tb2", f"mkdir -p {override} && printf '[Service]\\nExecStart=\\nExecStart=/bin/false\\n'"
            f" > {override}/fail.conf && systemctl daemon-reload && "
            f"(systemctl start {unit}.service || true)")  # fmt: skip
    try:
        _, report = audit_json(bed, tmp_path)
        assert statuses(report)[("tb2", "STAB-06")] == "fail"
        assert f"{unit}: last run failed" in evidence(report, "tb2", "STAB-06")
        assert statuses(report)[("tb2", "OPS-W-02")] == "fail"
    finally:
        bed.run("tb2", f"rm -r {override} && systemctl daemon-reload && systemctl start {unit}")


def test_nothing_the_jobs_saw_leaks(bed, deployed) -> None:
    outputs = [*deployed, bed.hardening("audit", bed.inventory, "-v")]
    outputs.append(bed.hardening("audit", bed.inventory, "--format", "json"))
    for done in outputs:
        assert TOKEN not in done.stdout and TOKEN not in done.stderr
    seen = bed.run("tb1", f"journalctl --no-pager -o cat | grep -c {TOKEN} || true")
    assert int(seen) > 0  # the jobs did read it
    assert TOKEN not in bed.run("tb1", "cat /var/lib/hardening/*/*.json")
