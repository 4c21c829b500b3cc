"""SEC-03 judged on canned probe output."""

from __future__ import annotations

from hardening.checks import HostContext, registry
from hardening.facts.tls import TlsListeners
from hardening.results import Status

CHECK = registry()["tls.everywhere"]


def judge(lines: list[str], **data):
    fact = TlsListeners().process(lines)
    facts = {TlsListeners: fact}
    return CHECK(HostContext("h", ("web",), data, lambda cls, **kw: facts.get(cls, cls.default())))


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


def _cert_lines(tmp_path, port: int, days: int) -> list[str]:
    from hardening.pki import issue, load_or_create_ca

    pem = issue(load_or_create_ca(tmp_path), ["db1"], days=days).cert_pem
    return [f"tls:{port}:yes", *(f"cert:{port}:{line}" for line in pem.splitlines())]


def test_certificate_expiry_in_evidence_and_soon_expiring_fails(tmp_path) -> None:
    good = judge([*_cert_lines(tmp_path, 5432, 90), "#done"])
    assert good.status is Status.PASS, good.evidence
    assert "5432 (tls, expires 20" in good.evidence
    soon = judge([*_cert_lines(tmp_path, 5432, 90), *_cert_lines(tmp_path, 6380, 2), "#done"])
    assert soon.status is Status.FAIL
    assert (
        "expiring within 30 days: 6380 (" in soon.evidence
        and "5432" not in soon.evidence.split("expiring")[1]
    )
    assert judge([*_cert_lines(tmp_path, 6380, 2), "#done"], tls_renew_days=1).status is Status.PASS


def test_pg_hba_tls_switch_makes_remote_lines_hostssl() -> None:
    from hardening.operations._render import render

    def rendered(tls: bool) -> list[str]:
        text = render(
            "pg_hba.conf.j2",
            replica_addresses=["10.0.0.12/32"],
            client_networks=["10.0.1.0/24"],
            replication_role="replicator",
            tls=tls,
        )
        return [line.split()[0] for line in text.splitlines() if "10.0." in line]

    assert rendered(True) == ["hostssl", "hostssl"] and rendered(False) == ["host", "host"]
