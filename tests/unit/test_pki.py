"""The internal CA: creation, issuance, SAN and key checks, the renewal decision, bad input."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

from hardening.facts.certificates import CertificateEndpoint, CertificateFile
from hardening.pki import (
    PkiError,
    check_pair,
    days_left,
    describe,
    issue,
    load_or_create_ca,
    pki_dir,
    renewal_reason,
)

NAMES = ["db1", "10.0.0.11"]


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory):
    return load_or_create_ca(tmp_path_factory.mktemp("pki"))


def deployed(pair) -> dict:
    """The CertificateFile fact of a host holding ``pair`` (the key's public half only)."""
    lines = ["#cert", *pair.cert_pem.splitlines()]
    fact = CertificateFile().process(lines)
    fact["key_public_key"] = fact["public_key"]
    return fact


def test_ca_created_once_with_a_private_key_file(tmp_path: Path) -> None:
    first = load_or_create_ca(tmp_path / "pki")
    assert stat.S_IMODE((tmp_path / "pki" / "ca.key").stat().st_mode) == 0o600
    again = load_or_create_ca(tmp_path / "pki")
    assert again.cert == first.cert


def test_missing_or_incomplete_ca_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match="no CA in"):
        load_or_create_ca(tmp_path, create=False)
    load_or_create_ca(tmp_path)
    (tmp_path / "ca.key").unlink()
    with pytest.raises(PkiError, match="CA incomplete: .*ca.key missing") as error:
        load_or_create_ca(tmp_path)
    assert "\n" not in str(error.value)


def test_pki_dir_from_data_env_or_home(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HARDENING_PKI_DIR", str(tmp_path))
    assert pki_dir({}) == tmp_path
    assert pki_dir({"tls_pki_dir": "/srv/pki"}) == Path("/srv/pki")
    monkeypatch.delenv("HARDENING_PKI_DIR")
    assert pki_dir({}).parts[-3:] == (".config", "hardening", "pki")


def test_issued_certificate_covers_the_host(ca) -> None:
    pair = issue(ca, NAMES, days=90)
    check_pair(pair.cert_pem, pair.key_pem, NAMES)
    facts = describe(pair.cert_pem)
    assert facts["subject"] == "CN=db1,O=hardening"
    assert set(facts["san"]) == {"db1", "localhost", "10.0.0.11", "127.0.0.1"}
    assert 89.9 < days_left(facts["not_after"]) <= 90


def test_san_not_covering_the_host_is_refused(ca) -> None:
    pair = issue(ca, ["web1"], days=90)
    with pytest.raises(PkiError, match="SAN does not cover db1, 10.0.0.11"):
        check_pair(pair.cert_pem, pair.key_pem, NAMES)


def test_key_not_matching_the_certificate_is_refused(ca) -> None:
    one, other = issue(ca, NAMES), issue(ca, NAMES)
    with pytest.raises(PkiError, match="does not match"):
        check_pair(one.cert_pem, other.key_pem, NAMES)
    with pytest.raises(PkiError, match="not a readable"):
        check_pair(one.cert_pem, "garbage", NAMES)


def test_renewal_decision(ca, tmp_path: Path) -> None:
    fresh = deployed(issue(ca, NAMES, days=90))
    assert renewal_reason(fresh, ca, NAMES, 30) == ""
    assert renewal_reason(None, ca, NAMES, 30) == "no certificate deployed"
    short = deployed(issue(ca, NAMES, days=2))
    assert "days left (renew below 30)" in renewal_reason(short, ca, NAMES, 30)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=80)
    assert "renew below 30" in renewal_reason(fresh, ca, NAMES, 30, now=later)
    assert "SAN does not cover db2" in renewal_reason(fresh, ca, ["db2"], 30)
    assert "key does not match" in renewal_reason({**fresh, "key_public_key": ""}, ca, NAMES, 30)
    stranger = load_or_create_ca(tmp_path / "other")
    assert "not by this hardening CA" in renewal_reason(fresh, stranger, NAMES, 30)


def test_certificate_facts_parse_files_and_endpoints(ca) -> None:
    pair = issue(ca, NAMES)
    assert CertificateFile().process(["#absent"]) == {"exists": False}
    fact = CertificateFile().process(["#cert", *pair.cert_pem.splitlines(), "#key-unreadable"])
    assert fact["exists"] and fact["subject"] == "CN=db1,O=hardening"
    assert fact["key_public_key"] == ""
    chain = [*pair.cert_pem.splitlines(), *ca.cert_pem.splitlines(), "#done"]
    endpoint = CertificateEndpoint().process(chain)
    assert endpoint["tls"] and endpoint["chain"] == 2 and "db1" in endpoint["san"]
    assert CertificateEndpoint().process(["#done"]) == {"tls": False}
    broken = CertificateFile().process(["#cert", "-----BEGIN CERTIFICATE-----", "AAAA"])
    assert broken["error"] == "no certificate"
