"""SSH hardening without hosts: the fact parser on captured output, the drop-in, findings."""

from __future__ import annotations

from pathlib import Path

from hardening.checks.host import ssh_findings
from hardening.facts.ssh import SshdState
from hardening.operations.ssh import render_drop_in
from hardening.settings import validate_host_data

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DEBIAN_DEFAULT = [
    "#moduli 60",
    "#hostkey /etc/ssh/ssh_host_ecdsa_key",
    "#hostkey /etc/ssh/ssh_host_ed25519_key",
    "passwordauthentication yes",
    "kbdinteractiveauthentication no",
    "permitrootlogin without-password",
    "x11forwarding yes",
    "maxauthtries 6",
    "logingracetime 120",
    "clientaliveinterval 0",
    "kexalgorithms curve25519-sha256,ecdh-sha2-nistp256,diffie-hellman-group14-sha1",
    "macs umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha1",
]


def test_hardened_host_has_no_findings() -> None:
    text = (FIXTURES / "sshd_state_hardened.txt").read_text()
    state = SshdState().process(text.splitlines())
    assert state["installed"] and state["host_keys"] == ["ed25519", "rsa"]
    assert state["config"]["passwordauthentication"] == "no"
    assert ssh_findings(state) == []


def test_debian_default_findings() -> None:
    findings = ssh_findings(SshdState().process(DEBIAN_DEFAULT))
    assert "passwordauthentication yes" in findings
    assert "x11forwarding yes" in findings
    assert "maxauthtries 6" in findings and "logingracetime 120" in findings
    assert "no idle timeout (clientaliveinterval 0)" in findings
    assert "weak kexalgorithms: ecdh-sha2-nistp256, diffie-hellman-group14-sha1" in findings
    assert "weak macs: umac-64-etm@openssh.com, hmac-sha1" in findings
    assert "60 DH moduli under 3071 bits" in findings
    assert "weak host keys: ecdsa" in findings


def test_absent_sshd() -> None:
    state = SshdState().process(["#absent"])
    assert state == SshdState.default() and ssh_findings(state) == []


def test_drop_in_is_key_only_and_lists_allowed_users() -> None:
    text = render_drop_in(allow_users=["root", "deploy"], allow_groups=["ops"])
    for line in (
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "MaxAuthTries 3",
        "LoginGraceTime 30",
        "X11Forwarding no",
        "AllowUsers root deploy",
        "AllowGroups ops",
    ):
        assert line in text.splitlines()
    assert "nistp" not in text and "sha1" not in text and "cbc" not in text
    assert "AllowUsers" not in render_drop_in()


def test_allow_lists_are_validated() -> None:
    assert validate_host_data({"ssh_allow_users": ["root"]}) == []
    assert validate_host_data({"ssh_allow_users": "root"}) == [
        "ssh_allow_users must be a list of strings, got 'root'"
    ]
