"""SSH hardening on real hosts: ssh-audit finds problems on a fresh host and none after
deploys/ssh.py, a rerun changes nothing, keys still work (paramiko in pyinfra, OpenSSH in the
test harness) and passwords do not."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from hardening.checks.host import ssh_findings
from hardening.facts.ssh import SshdState
from tests.integration.harden_helpers import pyinfra_changes

#: ssh-audit 2.5 (Debian 12) does not know OpenSSH's Terrapin countermeasure pseudo-algorithm
#: (it cannot be disabled and is not a weakness): the only line it may still warn about.
UNKNOWN_TO_SSH_AUDIT_2_5 = "kex-strict-s-v00@openssh.com"


@pytest.fixture(scope="module")
def bed(module_bed):
    if not shutil.which("ssh-audit"):
        pytest.skip("ssh-audit is not installed on the control node (apt-get install ssh-audit)")
    return module_bed


def address(bed, name: str) -> str:
    return next(host.address for host in bed.hosts if host.name == name)


def audit_lines(bed, name: str) -> list[str]:
    done = subprocess.run(
        ["ssh-audit", "-n", address(bed, name)], capture_output=True, text=True, timeout=60
    )
    return [
        line
        for line in done.stdout.splitlines()
        if ("[fail]" in line or "[warn]" in line) and UNKNOWN_TO_SSH_AUDIT_2_5 not in line
    ]


def findings(bed, name: str) -> list[str]:
    output = bed.run(name, SshdState().command())
    return ssh_findings(SshdState().process(output.splitlines()))


def test_fresh_host_has_weak_ssh(bed) -> None:
    assert any("nistp256" in line for line in audit_lines(bed, "tb2"))
    found = findings(bed, "tb2")
    assert "x11forwarding yes" in found and "maxauthtries 6" in found
    assert any("DH moduli under 3071 bits" in finding for finding in found)


def test_hardened_ssh_passes_ssh_audit_and_rerun_changes_nothing(bed) -> None:
    first = bed.pyinfra("deploys/ssh.py")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert pyinfra_changes(first) > 0
    for name in ("tb1", "tb2"):
        assert audit_lines(bed, name) == [], name
        assert findings(bed, name) == [], name
    second = bed.pyinfra("deploys/ssh.py")  # paramiko still connects
    assert second.returncode == 0, second.stdout[-3000:]
    assert pyinfra_changes(second) == 0, second.stdout[-3000:]


def test_keys_work_and_passwords_do_not(bed) -> None:
    assert bed.run("tb1", "echo ok").strip() == "ok"  # OpenSSH client with the bed's key
    denied = subprocess.run(
        [
            "ssh", "-o", "BatchMode=yes", "-o", "PubkeyAuthentication=no",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            f"root@{address(bed, 'tb1')}", "true",
        ],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert denied.returncode != 0
    assert "Permission denied (publickey)" in denied.stderr


def test_invalid_drop_in_is_never_swapped_in(bed, tmp_path) -> None:
    deploy = tmp_path / "bad_sshd.py"
    deploy.write_text(
        "from hardening.operations import ssh\n"
        "ssh.sshd_hardening(name='broken drop-in', content='MaxAuthTries lots\\n')\n"
    )
    before = bed.run("tb2", "sha256sum /etc/ssh/sshd_config.d/10-hardening.conf")
    done = bed.pyinfra(str(deploy), "--limit", "tb2")
    assert done.returncode != 0
    assert bed.run("tb2", "sha256sum /etc/ssh/sshd_config.d/10-hardening.conf") == before
    assert (
        bed.run("tb2", "ls /etc/ssh/hardening-staged* 2>/dev/null || echo none").strip() == "none"
    )
    assert bed.run("tb2", "systemctl is-active ssh").strip() == "active"
