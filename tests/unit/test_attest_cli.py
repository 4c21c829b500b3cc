"""The attestation subcommands through a small argparse harness (as cli.py will wire them)."""

from __future__ import annotations

import argparse
import base64
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from hardening import attest
from hardening.catalog import CATALOG
from hardening.errors import HardeningError
from hardening.reports import json_report
from hardening.reports.model import HostInfo, Report
from hardening.results import Result, Status


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in (attest.LEDGER_ENV, attest.PASSPHRASE_ENV, attest.SIGNING_KEY_ENV):
        monkeypatch.delenv(name, raising=False)


class Cli:
    """``hardening`` reduced to the attestation commands, capturing what they print."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.parser = argparse.ArgumentParser(prog="hardening")
        self.handlers = attest.add_commands(self.parser.add_subparsers(dest="command"))
        self.capsys = capsys
        self.printed: list[str] = []

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        args = self.parser.parse_args(argv)
        code = self.handlers[args.command](args)
        out, err = self.capsys.readouterr()
        self.printed += [out, err]
        return code, out, err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


def secrets_of(path: Path) -> list[str]:
    """Every spelling of a private key that must never be printed."""
    key = attest.load_private_key(path)
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    lines = path.read_text().splitlines()[1:-1]
    return [base64.b64encode(raw).decode(), raw.hex(), *lines]


def keygen(cli: Cli, name: str = "alice", roles: tuple[str, ...] = ("tech-lead",)) -> str:
    code, out, err = cli("keygen", f"keys/{name}.pem")
    assert code == 0
    public = out.strip()
    keyring_path = Path("attestations/keyring.json")
    keyring = json.loads(keyring_path.read_text()) if keyring_path.exists() else {}
    keyring[name] = {"key": public, "roles": list(roles)}
    keyring_path.parent.mkdir(exist_ok=True)
    keyring_path.write_text(json.dumps(keyring))
    return public


def test_commands_and_handlers(cli: Cli) -> None:
    assert set(cli.handlers) == {"attest", "sign-off", "keygen", "attestations"}
    assert all(callable(handler) for handler in cli.handlers.values())


def test_keygen_prints_only_the_public_key_line(cli: Cli) -> None:
    code, out, err = cli("keygen", "keys/alice.pem")
    assert code == 0
    assert out.count("\n") == 1 and out.startswith("ed25519:")
    assert "keyring" in err and out.strip() in err
    assert stat.S_IMODE(Path("keys/alice.pem").stat().st_mode) == 0o600
    assert cli("keygen", "--show", "keys/alice.pem")[1] == out
    with pytest.raises(HardeningError, match="refusing to overwrite"):
        cli("keygen", "keys/alice.pem")
    for secret in secrets_of(Path("keys/alice.pem")):
        assert all(secret not in text for text in cli.printed)


def test_attest_writes_a_record_that_attestations_lists_as_valid(cli: Cli) -> None:
    keygen(cli)
    code, out, err = cli(
        "attest", "TEAM-01", "--role", "tech-lead", "--by", "Alice Doe",
        "--evidence", "https://wiki.example.net/oncall", "--key", "keys/alice.pem",
        "--note", "rota in PagerDuty",
    )  # fmt: skip
    assert code == 0, err
    (path,) = Path("attestations").glob("TEAM-01--tech-lead--*.json")
    assert f"wrote {path}" in out and "the record counts" in out
    record = json.loads(path.read_text())
    assert record["by"] == "Alice Doe" and record["note"] == "rota in PagerDuty"

    code, out, _ = cli("attestations")
    assert code == 0
    (line,) = [line for line in out.splitlines() if path.name in line]
    assert line.startswith("TEAM-01") and "Alice Doe" in line and " valid " in line
    assert "1 record(s) in attestations: 1 valid, 0 rejected" in out
    for secret in secrets_of(Path("keys/alice.pem")):
        assert all(secret not in text for text in [*cli.printed, path.read_text()])


def test_attestations_flags_a_tampered_record(cli: Cli) -> None:
    keygen(cli)
    cli("attest", "TEAM-02", "--role", "tech-lead", "--by", "A", "--evidence", "x",
        "--key", "keys/alice.pem")  # fmt: skip
    (path,) = Path("attestations").glob("TEAM-02--*.json")
    path.write_text(path.read_text().replace('"by": "A"', '"by": "Mallory"'))
    code, out, _ = cli("attestations")
    assert code == 1
    assert "REJECTED: signature does not verify" in out and "0 valid, 1 rejected" in out


def test_attest_warns_when_the_keyring_will_not_count_it(cli: Cli) -> None:
    keygen(cli, roles=("product-owner",))
    code, out, err = cli(
        "attest", "TEAM-03", "--role", "tech-lead", "--by", "A", "--evidence", "x",
        "--key", "keys/alice.pem", "--dir", "other-ledger",
    )  # fmt: skip
    assert code == 0 and "wrote other-ledger/TEAM-03--tech-lead--" in out
    assert "no other-ledger/keyring.json" in err
    code, out, err = cli(
        "attest", "TEAM-03", "--role", "tech-lead", "--by", "A", "--evidence", "x",
        "--key", "keys/alice.pem",
    )  # fmt: skip
    assert "warning: key 'alice' may not sign as tech-lead" in err


def test_default_key_from_environment(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    keygen(cli)
    monkeypatch.setenv(attest.SIGNING_KEY_ENV, "keys/alice.pem")
    code, out, _ = cli("attest", "DOC-07", "--role", "tech-lead", "--by", "A", "--evidence", "x")
    assert code == 0 and "the record counts" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["attest", "NOPE-01"], "unknown checklist item 'NOPE-01'"),
        (["attest", "SEC-04"], "SEC-04 is not an attest item"),
        (["attest", "SIGN-02"], "SIGN-02 is a sign-off: use `hardening sign-off --role devops"),
        (["attest", "TEAM-01", "--role", "Tech_Lead"], "invalid role 'Tech_Lead'"),
        (["attest", "TEAM-01", "--key", "keys/none.pem"], "no signing key at keys/none.pem"),
    ],
)
def test_attest_user_errors(cli: Cli, argv: list[str], message: str) -> None:
    keygen(cli)
    defaults = {"--role": "tech-lead", "--by": "A", "--evidence": "x", "--key": "keys/alice.pem"}
    for option, value in defaults.items():
        if option not in argv:
            argv = [*argv, option, value]
    with pytest.raises(HardeningError, match=message):
        cli(*argv)


def write_report(path: Path, failing: tuple[str, ...] = ()) -> str:
    results = [
        Result(item.id, "web1", Status.FAIL if item.id in failing else Status.PASS, "seen")
        for item in CATALOG
    ]
    path.write_text(json_report.render(Report([HostInfo("web1", ("web",))], results)))
    return str(path)


def test_sign_off_refused_then_accepted_with_waiver(cli: Cli, tmp_path: Path) -> None:
    keygen(cli, "sam", ("security-lead",))
    report = write_report(tmp_path / "prod.json", failing=("SEC-01", "DB-01"))
    base = ["sign-off", "--role", "security-lead", "--by", "Sam", "--report", report,
            "--key", "keys/sam.pem"]  # fmt: skip
    with pytest.raises(HardeningError, match=r"SEC-01 \(web1\), DB-01 \(web1\)"):
        cli(*base)
    with pytest.raises(HardeningError, match="--waive DB-01"):
        cli(*base, "--waive", "SEC-01")
    code, out, _ = cli(*base, "--waive", "SEC-01", "--waive", "DB-01")
    assert code == 0
    assert "waived critical failures (signed, shown in every audit): SEC-01, DB-01" in out
    (path,) = Path("attestations").glob("SIGN-03--security-lead--*.json")
    assert json.loads(path.read_text())["waives"] == ["SEC-01", "DB-01"]
    assert cli("attestations")[0] == 0


def test_sign_off_role_is_one_of_four(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.parser.parse_args(["sign-off", "--role", "ceo", "--by", "A", "--report", "r.json"])
    assert "invalid choice: 'ceo'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "fragments"),
    [
        ("attest", ["--evidence URL", "TEAM-01", "keyring", "quarterly 92"]),
        ("sign-off", ["product-owner", "--waive ID", "critical", "REPORT.json"]),
        ("keygen", ["0600", "ed25519:", "never printed"]),
        ("attestations", ["verifies", "Exit 1"]),
    ],
)
def test_help_explains(
    cli: Cli, capsys: pytest.CaptureFixture[str], command: str, fragments: list[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        cli.parser.parse_args([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for fragment in fragments:
        assert fragment in text, fragment
