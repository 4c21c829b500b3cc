"""SEC-03 judged on canned probe output."""

from __future__ import annotations

from hardening.checks import HostContext, registry
from hardening.facts.tls import TlsListeners
from hardening.results import Status

CHECK = registry()["tls.everywhere"]


def judge(lines: list[str], **data):
    fact = TlsListeners().process(lines)
    return CHECK(HostContext("h", ("web",), data, lambda cls, **kw: fact))


def test_plaintext_listeners_fail() -> None:
    outcome = judge(["tls:22:no", "tls:80:no", "redirect:80:200 ", "tls:9100:no", "#done"])
    assert outcome.status is Status.FAIL
    assert "plaintext: 80, 9100" in outcome.evidence and "22 (ssh)" in outcome.evidence


def test_tls_and_https_redirect_pass() -> None:
    lines = [
        "tls:22:no",
        "tls:80:no",
        "redirect:80:301 https://h/",
        "tls:443:yes",
        "tls:5432:yes",
        "#done",
    ]
    outcome = judge(lines)
    assert outcome.status is Status.PASS, outcome.evidence
    assert "80 (redirects to https)" in outcome.evidence


def test_ssh_on_another_port_and_no_openssl() -> None:
    assert judge(["tls:2222:no", "#done"], ssh_port=2222).status is Status.PASS
    assert judge(["#no-openssl"]).status is Status.FAIL
