"""Certificate issuers: selection from host data, settings validation, OpenBao/Vault PKI
(issue parameters, errors, renewal of a certificate it issued) and operator files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from hvac import exceptions as hvac_errors
from pyinfra.api import FileUploadCommand
from pyinfra.api.exceptions import OperationError

import hardening.pki as pki
from hardening.facts.certificates import CertificateFile
from hardening.operations import tls as tls_ops
from hardening.pki import (
    InternalIssuer,
    PkiError,
    describe,
    issue,
    issue_checked,
    issuer_from_data,
    load_or_create_ca,
    renewal_reason,
)
from hardening.pki_issuers import FilesIssuer, VaultIssuer, config_problems, vault_issuer
from hardening.settings import validate_host_data
from tests.unit.test_monitoring_operations import FakeHost as OpsFakeHost
from tests.unit.test_monitoring_operations import commands, text

NAMES = ["tb1", "10.77.0.2"]
BACKEND = {"type": "vault", "address": "http://bao:8200", "token_file": "/run/bao-token"}


@pytest.fixture(scope="module")
def bao_ca(tmp_path_factory: pytest.TempPathFactory) -> pki.CA:
    """Stands in for the CA inside OpenBao."""
    return load_or_create_ca(tmp_path_factory.mktemp("bao"))


def deployed(pair: pki.Pair) -> dict:
    """The CertificateFile fact of a host holding ``pair`` (the key's public half only)."""
    fact = CertificateFile().process(["#cert", *pair.cert_pem.splitlines()])
    fact["key_public_key"] = fact["public_key"]
    return fact


class FakePki:
    """hvac's ``client.secrets.pki`` answering like OpenBao, from ``ca`` (or raising)."""

    def __init__(self, ca: pki.CA, error: Exception | None = None, max_days: int = 3650) -> None:
        self.ca, self.error, self.calls, self.max_days = ca, error, [], max_days

    def _answer(self, value):
        if self.error:
            raise self.error
        return value

    def read_ca_certificate(self, mount_point: str) -> str:
        return self._answer(self.ca.cert_pem)

    def read_ca_certificate_chain(self, mount_point: str) -> str:
        return self._answer(self.ca.cert_pem)

    def generate_certificate(self, role, common_name, extra_params, mount_point):
        self.calls.append((mount_point, role, common_name, extra_params))
        names = [common_name, *extra_params["ip_sans"].split(",")]
        pair = issue(self.ca, names, days=min(int(extra_params["ttl"][:-1]) // 24, self.max_days))
        return self._answer(
            {"data": {"certificate": pair.cert_pem, "private_key": pair.key_pem,
                      "ca_chain": [self.ca.cert_pem]}}
        )  # fmt: skip


def vault(ca: pki.CA, error: Exception | None = None, max_days: int = 3650) -> VaultIssuer:
    issuer = VaultIssuer("http://bao:8200", token_file="/run/bao-token")
    fake = FakePki(ca, error, max_days)
    issuer._client = SimpleNamespace(secrets=SimpleNamespace(pki=fake))
    return issuer


def test_issuer_selection_from_host_data(tmp_path: Path) -> None:
    internal = issuer_from_data({"tls_pki_dir": str(tmp_path)})
    assert isinstance(internal, InternalIssuer) and internal.directory == tmp_path
    chosen = issuer_from_data({"tls_issuer": "vault", "secrets_backend": BACKEND})
    assert isinstance(chosen, VaultIssuer)
    assert (chosen.address, chosen.mount, chosen.role, chosen.token_file) == (
        "http://bao:8200",
        "pki",
        "hardening",
        "/run/bao-token",
    )
    own = vault_issuer({"address": "https://ca:8200/", "mount": "pki_int", "role": "web"}, BACKEND)
    assert str(own) == "OpenBao/Vault PKI https://ca:8200/v1/pki_int" and own.role == "web"
    assert vault_issuer({}, BACKEND) is chosen  # one issuer (and CA download) per process
    with pytest.raises(PkiError, match="set tls_vault_pki.address"):
        issuer_from_data({"tls_issuer": "vault"})
    with pytest.raises(PkiError, match="names no files"):
        issuer_from_data({"tls_issuer": "files"})
    with pytest.raises(PkiError, match="must be internal, vault or files"):
        issuer_from_data({"tls_issuer": "acme"})


def test_settings_validation() -> None:
    assert validate_host_data({"tls_issuer": "vault", "tls_vault_pki": {"role": "x"}}) == []
    problems = validate_host_data(
        {
            "tls_issuer": "letsencrypt",
            "tls_vault_pki": {"token": "s.abc", "address": "bao:8200"},
            "tls_certificate_files": {"redis": {"cert": "/a", "key": "/b"}, "nginx": "x"},
        }
    )
    assert any("tls_issuer must be one of" in p for p in problems)
    assert "tls_vault_pki must not contain a token (VAULT_TOKEN or token_file)" in problems
    assert "tls_vault_pki.address must be an http(s):// URL" in problems
    assert sum("must be {'cert': path, 'key': path, 'ca': path}" in p for p in problems) == 2
    assert config_problems("tls_certificate_files", []) == [
        "tls_certificate_files must be a mapping, got list"
    ]


def test_vault_issue_request_and_the_renewal_of_its_certificate(bao_ca, tmp_path) -> None:
    issuer = vault(bao_ca)
    pair = issue_checked(issuer, NAMES, days=90, renew_days=30)
    assert issuer.client.secrets.pki.calls == [
        (
            "pki",
            "hardening",
            "tb1",
            {
                "alt_names": "tb1,localhost",
                "ip_sans": "10.77.0.2,127.0.0.1",
                "ttl": "2160h",
                "format": "pem",
                "private_key_format": "pkcs8",
            },
        )
    ]
    assert pair.cert_pem.count("BEGIN CERTIFICATE") == 1  # the root is not served
    assert "private key" in repr(pair) and pair.key_pem[40:80] not in repr(pair)
    fact = deployed(pair)
    assert renewal_reason(fact, issuer, NAMES, 30) == ""
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=70)
    assert "days left (renew below 30)" in renewal_reason(fact, issuer, NAMES, 30, now=later)
    assert "SAN does not cover tb2" in renewal_reason(fact, issuer, ["tb2"], 30)
    internal = deployed(issue(load_or_create_ca(tmp_path), NAMES))
    reason = renewal_reason(internal, issuer, NAMES, 30)
    assert reason.endswith("not by OpenBao/Vault PKI http://bao:8200/v1/pki"), reason
    assert "not by this hardening CA" in renewal_reason(
        fact, load_or_create_ca(tmp_path), NAMES, 30
    )


def test_vault_refuses_a_lifetime_its_renewal_would_undo(bao_ca) -> None:
    capped = vault(bao_ca, max_days=20)  # a role whose max_ttl is below tls_renew_days
    with pytest.raises(PkiError, match="valid for 20.0 days, not more than tls_renew_days=30"):
        issue_checked(capped, NAMES, days=90, renew_days=30)
    # short lifetimes the operator asked for (tls_cert_days) are theirs to choose
    assert issue_checked(capped, NAMES, days=10, renew_days=30)


def test_vault_signing_with_another_ca_than_hosts_trust_is_refused(bao_ca, tmp_path) -> None:
    issuer = vault(bao_ca)
    issuer._ca = load_or_create_ca(tmp_path).cert_pem
    with pytest.raises(PkiError, match="the issuer and its CA disagree"):
        issue_checked(issuer, NAMES, days=90, renew_days=30)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (requests.exceptions.ConnectionError("refused"), r"is unreachable \(ConnectionError\)"),
        (hvac_errors.Forbidden("permission denied"), "denied pki/ca/pem: check that the token"),
        (hvac_errors.InvalidPath("no handler"), "has no pki/ca/pem: enable the PKI engine"),
        (
            hvac_errors.InternalServerError("1 error occurred:\n\t* boom\n"),
            "refused pki/ca/pem: boom",
        ),
    ],
)
def test_vault_errors_are_one_line(bao_ca, error, message) -> None:
    with pytest.raises(PkiError, match=message) as caught:
        vault(bao_ca, error).ca_pem()
    assert "\n" not in str(caught.value)


def test_vault_token_file_missing(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    issuer = VaultIssuer("http://bao:8200", token_file=str(tmp_path / "none"))
    with pytest.raises(PkiError, match="cannot read the Vault token file"):
        issuer.ca_pem()


def operator_files(tmp_path: Path, ca: pki.CA, cert: pki.Pair, key: pki.Pair) -> FilesIssuer:
    (tmp_path / "ca.crt").write_text(ca.cert_pem)
    (tmp_path / "db.crt").write_text(cert.cert_pem)
    (tmp_path / "db.key").write_text(key.key_pem)
    paths = {part: str(tmp_path / name) for part, name in (("cert", "db.crt"), ("key", "db.key"))}
    return FilesIssuer({"postgresql": {**paths, "ca": str(tmp_path / "ca.crt")}})


def test_operator_files_good_pair_deployed_once(bao_ca, tmp_path: Path) -> None:
    pair = issue(bao_ca, NAMES)
    files = operator_files(tmp_path, bao_ca, pair, pair)
    assert files.ca_pem() == bao_ca.cert_pem
    source = files.for_certificate("/etc/ssl/hardening/postgresql.crt")
    assert issue_checked(source, NAMES, days=90, renew_days=30) == pair
    assert renewal_reason(deployed(pair), source, NAMES, 30) == ""
    # files cannot renew themselves: an expiring one stays, the audit warns
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=80)
    assert renewal_reason(deployed(pair), source, NAMES, 30, now=later) == ""
    other = deployed(issue(bao_ca, NAMES))
    assert (
        renewal_reason(other, source, NAMES, 30)
        == f"differs from the operator's file {tmp_path}/db.crt"
    )
    with pytest.raises(PkiError, match="no 'redis' entry for /etc/ssl/hardening/redis.crt"):
        files.for_certificate("/etc/ssl/hardening/redis.crt")


def test_operator_files_bad_input(bao_ca, monkeypatch, tmp_path: Path) -> None:
    pair = issue(bao_ca, NAMES)
    path = "/etc/ssl/hardening/postgresql.crt"
    mismatch = operator_files(tmp_path, bao_ca, pair, issue(bao_ca, NAMES)).for_certificate(path)
    with pytest.raises(PkiError, match=r"db.key: the private key does not match .* put a matching"):
        issue_checked(mismatch, NAMES, 90, 30)
    narrow = operator_files(tmp_path, bao_ca, pair, pair).for_certificate(path)
    with pytest.raises(PkiError, match="SAN does not cover tb2"):
        issue_checked(narrow, ["tb2"], 90, 30)
    stranger = load_or_create_ca(tmp_path / "other")
    unsigned = operator_files(tmp_path, stranger, pair, pair).for_certificate(path)
    with pytest.raises(PkiError, match="db.crt is not signed by .*ca.crt"):
        issue_checked(unsigned, NAMES, 90, 30)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=100)
    monkeypatch.setattr(pki, "_now", lambda: past)
    old = issue(bao_ca, NAMES, days=10)
    monkeypatch.undo()
    expired = operator_files(tmp_path, bao_ca, old, old).for_certificate(path)
    with pytest.raises(PkiError, match="db.crt expired 90 days ago: renew it"):
        issue_checked(expired, NAMES, 90, 30)
    assert "days left" in renewal_reason(deployed(old), expired, NAMES, 30)
    (tmp_path / "db.key").unlink()
    with pytest.raises(PkiError, match=r"db.key is unreadable \(No such file or directory\)"):
        issue_checked(expired, NAMES, 90, 30)


def test_internal_issuer_keeps_the_ca_directory_contract(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match="no CA in"):
        pki.as_issuer(str(tmp_path)).ca_pem()
    issuer = InternalIssuer(tmp_path)
    pair = issue_checked(issuer, NAMES, 90, 30)
    assert describe(pair.cert_pem)["issuer"] == "CN=hardening internal CA,O=hardening"
    assert renewal_reason(deployed(pair), pki.as_issuer(str(tmp_path)), NAMES, 30) == ""


class FakeHost(OpsFakeHost):
    name = "tb1"


@pytest.fixture(autouse=True)
def fresh_run(monkeypatch) -> None:
    """Each test is a run of its own: no pair issued before."""
    monkeypatch.setattr(tls_ops, "_ISSUED", {})


def test_operation_issues_once_uploads_the_key_and_never_prints_it(bao_ca) -> None:
    issuer = vault(bao_ca)
    crt, key = "/etc/ssl/hardening/redis.crt", "/etc/ssl/hardening/redis.key"
    args = {"issuer": issuer, "names": NAMES, "cert_path": crt, "key_path": key}
    fake = FakeHost(CertificateFile=CertificateFile.default())
    first = commands(tls_ops.server_certificate, fake, owner="redis", reload="R", **args)
    again = commands(tls_ops.server_certificate, fake, owner="redis", reload="R", **args)
    assert len(issuer.client.secrets.pki.calls) == 1  # checked and executed: one pair
    uploads = [c for c in first if isinstance(c, FileUploadCommand)]
    assert [u.dest for u in uploads] == [
        f"{tls_ops.STAGING}/redis.key",
        f"{tls_ops.STAGING}/redis.crt",
    ]
    (pair,) = tls_ops._ISSUED.values()
    assert uploads[0].src.getvalue() == pair.key_pem
    shown = [text(c) for c in first if not isinstance(c, FileUploadCommand)]
    assert (
        shown[-1]
        == f"mv -f {tls_ops.STAGING}/redis.key {key} && mv -f {tls_ops.STAGING}/redis.crt {crt} && R"
    )
    assert not any("PRIVATE KEY" in line for line in shown)
    assert [text(c) for c in again] == [text(c) for c in first]
    done = FakeHost(CertificateFile={**deployed(pair), "exists": True})
    assert commands(tls_ops.server_certificate, done, owner="redis", **args) == []
    assert done.noops == [f"{crt} is valid for tb1, 10.77.0.2"]


def test_operation_refuses_with_one_line_when_the_issuer_fails(bao_ca) -> None:
    issuer = vault(bao_ca, requests.exceptions.ConnectionError("refused"))
    fake = FakeHost(CertificateFile=CertificateFile.default())
    with pytest.raises(OperationError) as caught:
        commands(
            tls_ops.server_certificate, fake, issuer=issuer, names=NAMES, owner="postgres",
            cert_path="/etc/ssl/hardening/postgresql.crt", key_path="/etc/ssl/hardening/pg.key",
        )  # fmt: skip
    assert str(caught.value).endswith(
        "is unreachable (ConnectionError): start it or fix tls_vault_pki.address; "
        "the previous certificate stays, nothing was reloaded"
    )


def test_unreachable_vault_judges_against_the_trusted_ca_and_cannot_issue(bao_ca) -> None:
    down = vault(bao_ca, requests.exceptions.ConnectionError("refused"))
    with pytest.raises(pki.PkiUnavailable):
        down.ca_pem()
    offline = down.offline(bao_ca.cert_pem)
    good = deployed(issue(bao_ca, NAMES))
    assert renewal_reason(good, offline, NAMES, 30) == ""  # nothing due: nothing to ask
    with pytest.raises(pki.PkiUnavailable, match="is unreachable"):
        issue_checked(offline, NAMES, 90, 30)
    assert InternalIssuer(ca=bao_ca).offline(bao_ca.cert_pem) is None
