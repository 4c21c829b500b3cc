"""JWT key rotation by kid, the settle step, the kill-test pause hook, the rotation timer's
SEC-08 evidence and the `hardening rotate` command, without hosts."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import time
from pathlib import Path
from typing import Any

import pytest

from hardening import cli
from hardening.checks import HostContext, registry
from hardening.deploys.secrets import rotate_command
from hardening.facts.secrets import SecretsMarker
from hardening.facts.timers import HardeningTimers
from hardening.results import Status
from hardening.rotation import PAUSE_ENV, JwtKeys, RotationError, jwt_token, rotate
from hardening.secrets import Record
from tests.unit.test_secrets_backend import MemoryBackend

APP = Path(__file__).resolve().parents[2] / "examples" / "app" / "app.py"


class FileRunner:
    """A host with one file: records every command and what was piped in."""

    def __init__(self, app_keys: dict[str, str] | None = None) -> None:
        self.content = ""
        self.commands: list[tuple[str, str | None]] = []
        self.app_keys = app_keys  # verify-through-the-app stand-in: kids the file lists

    def run(self, command: str, stdin: str | None = None) -> tuple[bool, str]:
        self.commands.append((command, stdin))
        if command.startswith("sha256sum"):
            digest = hashlib.sha256(self.content.encode()).hexdigest() if self.content else ""
            return True, f"{digest}  file" if digest else ""
        if command.startswith("curl"):
            token = (stdin or "").removeprefix("Authorization: Bearer ").strip()
            return True, "200" if _app_verifies(self.content, token) else "401"
        self.content = stdin or ""
        return True, ""


def _load_app() -> Any:
    spec = importlib.util.spec_from_file_location("demo_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _app_verifies(content: str, token: str, tmp: Path = Path("/tmp")) -> bool:
    """What the reference app's keyring says about ``token`` given the keys file ``content``."""
    path = tmp / f"hardening-unit-jwt-{id(content)}.json"
    path.write_text(content)
    try:
        return _load_app().JwtKeyring(str(path), b"").verify(token) is not None
    finally:
        path.unlink()


def _token(value: dict[str, str], lifetime: int = 60) -> str:
    return jwt_token(value["kid"], value["key"], {"sub": "t", "exp": int(time.time()) + lifetime})


def test_keys_document_current_signs_previous_and_pending_verify() -> None:
    keys = JwtKeys()
    a, b, c = keys.first_value(), keys.first_value(), keys.first_value()
    assert len(a["key"]) == 64 and a["key"].isalnum() and a["kid"] != b["kid"]
    document = json.loads(
        keys.document(Record(current=b, previous=a, pending=c, previous_revoked=False))
    )
    assert document["current"] == b["kid"] and set(document["keys"]) == {
        a["kid"],
        b["kid"],
        c["kid"],
    }
    revoked = json.loads(keys.document(Record(current=b, previous=a, previous_revoked=True)))
    assert set(revoked["keys"]) == {b["kid"]}


def test_jwt_rotation_signs_with_new_kid_and_old_tokens_verify_until_revoke() -> None:
    backend, keys = MemoryBackend(), JwtKeys()
    runner = FileRunner()
    record = backend.ensure("h/jwt-keys", keys.first_value)
    keys.settle(runner, record)
    old = _token(record.current)
    done = rotate(
        backend, "h/jwt-keys", keys, runner, grace_seconds=3600, interval_days=30, force=True
    )
    assert done.steps == ["stage", "apply", "test", "promote", "settle"]
    document = json.loads(runner.content)
    assert document["current"] == done.record.current["kid"] != record.current["kid"]
    assert _app_verifies(runner.content, old) and _app_verifies(
        runner.content, _token(done.record.current)
    )
    later = rotate(backend, "h/jwt-keys", keys, runner, grace_seconds=0, interval_days=30)
    assert later.steps == ["revoke"]
    assert not _app_verifies(runner.content, old)
    assert _app_verifies(runner.content, _token(later.record.current))
    # keys travel on stdin only; an unchanged file is not rewritten
    assert all(record.current["key"] not in command for command, _ in runner.commands)
    writes = sum(1 for command, _ in runner.commands if "cat >" in command)
    keys.settle(runner, later.record)
    assert sum(1 for command, _ in runner.commands if "cat >" in command) == writes


def test_crash_between_promote_and_settle_is_settled_by_the_next_run() -> None:
    backend, keys, runner = MemoryBackend(), JwtKeys(), FileRunner()
    record = backend.ensure("h/jwt-keys", keys.first_value)
    keys.settle(runner, record)

    def crash(step: str) -> None:
        if step == "settle":
            raise RotationError("killed")

    with pytest.raises(RotationError):
        rotate(
            backend,
            "h/jwt-keys",
            keys,
            runner,
            grace_seconds=60,
            interval_days=30,
            force=True,
            on_step=crash,
        )
    promoted = backend.load("h/jwt-keys")
    assert json.loads(runner.content)["current"] == record.current["kid"]  # not yet switched
    again = rotate(backend, "h/jwt-keys", keys, runner, grace_seconds=60, interval_days=30)
    assert again.steps == []  # nothing due, previous in grace, but the host was settled
    assert json.loads(runner.content)["current"] == promoted.current["kid"]


def test_a_key_the_app_does_not_accept_is_not_promoted() -> None:
    backend, keys = MemoryBackend(), JwtKeys()

    class Refusing(FileRunner):
        def run(self, command: str, stdin: str | None = None) -> tuple[bool, str]:
            ok, out = super().run(command, stdin)
            return (True, "401") if command.startswith("curl") else (ok, out)

    backend.ensure("h/jwt-keys", keys.first_value)
    with pytest.raises(RotationError, match="does not log in"):
        rotate(
            backend, "h/jwt-keys", keys, Refusing(), grace_seconds=0, interval_days=30, force=True
        )
    assert backend.load("h/jwt-keys").pending  # kept for the next run, current unchanged


def test_app_keyring_legacy_secret_expiry_and_unknown_kid(tmp_path) -> None:
    app = _load_app()
    legacy = app.JwtKeyring("", b"s" * 40)
    assert (
        legacy.verify(legacy.sign({"sub": "demo", "exp": int(time.time()) + 60}))["sub"] == "demo"
    )
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"current": "k1", "keys": {"k1": "a" * 64}}))
    ring = app.JwtKeyring(str(keys), b"")
    token = ring.sign({"sub": "demo", "exp": int(time.time()) + 60})
    assert ring.verify(token) and not ring.verify(token[:-3] + "abc")
    assert not ring.verify(jwt_token("k9", "a" * 64, {"sub": "x", "exp": int(time.time()) + 60}))
    assert not ring.verify(jwt_token("k1", "a" * 64, {"sub": "x", "exp": int(time.time()) - 1}))
    assert not ring.verify("garbage")


def test_pause_hook_announces_the_step_and_is_inert_when_unset(monkeypatch, capsys) -> None:
    backend, keys, runner = MemoryBackend(), JwtKeys(), FileRunner()
    backend.ensure("h/jwt-keys", keys.first_value)
    monkeypatch.delenv(PAUSE_ENV, raising=False)
    rotate(backend, "h/jwt-keys", keys, runner, grace_seconds=0, interval_days=30, force=True)
    assert "#paused-at" not in capsys.readouterr().out
    monkeypatch.setenv(PAUSE_ENV, "h/jwt-keys:apply")
    monkeypatch.setenv("HARDENING_ROTATION_PAUSE_SECONDS", "0")
    rotate(backend, "h/jwt-keys", keys, runner, grace_seconds=0, interval_days=30, force=True)
    assert capsys.readouterr().out == "#paused-at h/jwt-keys:apply\n"


MARKER = {"credentials": {"postgres-app": {"username": "app_a", "promoted_at": time.time()}}}


def _ctx(timers: dict, controller: bool = True) -> HostContext:
    facts = {SecretsMarker: MARKER, HardeningTimers: timers}
    return HostContext(
        "c1",
        ("web",),
        {"secrets_backend": {"type": "vault"}, "rotation_controller": controller},
        lambda c, **k: facts.get(c, {}),
    )


TIMER = {
    "enabled": True,
    "active": True,
    "last_trigger": None,
    "service": "hardening-rotate.service",
    "running": False,
    "result": "success",
    "exit_status": 0,
    "last_exit": 1704070800.0,
}


def test_rotation_age_on_the_controller_needs_its_timer() -> None:
    check = registry()["secrets.rotation_age"]
    missing = check(_ctx({}))
    assert missing.status is Status.FAIL and "not installed" in missing.evidence
    fine = check(_ctx({"hardening-rotate": TIMER}))
    assert fine.status is Status.PASS
    assert (
        "hardening-rotate.timer enabled and active, last run 2024-01-01 01:00 UTC" in fine.evidence
    )
    failed = check(_ctx({"hardening-rotate": {**TIMER, "result": "exit-code", "exit_status": 1}}))
    assert failed.status is Status.FAIL and "last run failed (exit-code, exit 1)" in failed.evidence
    off = check(_ctx({"hardening-rotate": {**TIMER, "active": False}}))
    assert off.status is Status.FAIL and "is not active" in off.evidence
    assert check(_ctx({}, controller=False)).status is Status.PASS  # not a controller


def test_rotate_command_runs_the_rotation_deploy(monkeypatch) -> None:
    assert rotate_command("/etc/hardening/inventory.py") == (
        "/usr/bin/env hardening rotate /etc/hardening/inventory.py"
    )
    seen: list[list[str]] = []

    class Done:
        returncode = 0

    monkeypatch.setattr(cli.subprocess, "run", lambda argv, check: seen.append(argv) or Done())
    args = cli._build_parser().parse_args(["rotate", "inv.py", "--limit", "tb1"])
    assert cli.cmd_rotate(args) == 0
    assert seen[0][-5:-2] == ["-y", "inv.py", seen[0][-3]]
    assert seen[0][-3].endswith("deploys/rotate_credentials.py") and seen[0][-2:] == [
        "--limit",
        "tb1",
    ]
