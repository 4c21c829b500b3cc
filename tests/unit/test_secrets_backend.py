"""Secrets backends, the rotation state machine and the SEC-08/SEC-10 checks without hosts."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import pytest

from hardening.checks import HostContext, registry
from hardening.facts.secrets import PostgresLoginRoles, SecretsMarker
from hardening.results import Status
from hardening.rotation import (
    PostgresAB,
    RedisAcl,
    RotationError,
    redis_acl_conf,
    rotate,
    scram_verifier,
    verifier_matches,
)
from hardening.secrets import (
    ConcurrentChange,
    Record,
    SecretsBackend,
    SecretsBackendError,
    backend_from_config,
    config_problems,
    generate_password,
)
from hardening.settings import validate_host_data

CHECKS = registry()


class MemoryBackend(SecretsBackend):
    """The interface's contract in memory (versions as in KV v2 check-and-set)."""

    kind = "memory"

    def __init__(self) -> None:
        self.items: dict[str, Record] = {}

    def describe(self) -> str:
        return "memory"

    def ping(self) -> None:
        pass

    def load(self, name: str) -> Record:
        stored = self.items.get(name)
        return Record(**{**stored.__dict__}) if stored else Record(version=0)

    def _put(self, name: str, record: Record) -> Record:
        if (self.items.get(name) or Record(version=0)).version != record.version:
            raise ConcurrentChange("cas")
        record.version = (record.version or 0) + 1
        self.items[name] = Record(**record.__dict__)
        return record

    def create(self, name: str, value: dict[str, str]) -> Record:
        return self._put(name, Record(current=value, promoted_at=time.time(), version=0))

    def stage_pending(self, name: str, record: Record, value: dict[str, str]) -> Record:
        if record.pending:
            raise ConcurrentChange("pending exists")
        return self._put(name, Record(**{**record.__dict__, "pending": value}))

    def promote(self, name: str, record: Record) -> Record:
        new = Record(
            current=record.pending,
            previous=record.current,
            promoted_at=time.time(),
            previous_revoked=False,
            version=record.version,
        )
        return self._put(name, new)

    def mark_previous_revoked(self, name: str, record: Record) -> Record:
        return self._put(name, Record(**{**record.__dict__, "previous_revoked": True}))


class FakeDriver:
    """Valid credentials kept as a set, like a server with an overlap."""

    kind = "fake"

    def __init__(self) -> None:
        self.valid: set[str] = set()

    def first_value(self) -> dict[str, str]:
        return {"password": generate_password()}

    def next_value(self, current: dict[str, str]) -> dict[str, str]:
        return self.first_value()

    def apply(self, runner: Any, record: Record, value: dict[str, str]) -> None:
        self.valid.add(value["password"])

    def login(self, runner: Any, value: dict[str, str]) -> bool:
        return value["password"] in self.valid

    def revoke(self, runner: Any, record: Record) -> None:
        self.valid.discard(record.previous["password"])


def _setup() -> tuple[MemoryBackend, FakeDriver, Record]:
    backend, driver = MemoryBackend(), FakeDriver()
    record = backend.ensure("h/fake", driver.first_value)
    driver.valid.add(record.current["password"])
    return backend, driver, record


def test_generated_passwords_are_long_alphanumeric_and_distinct() -> None:
    values = {generate_password() for _ in range(50)}
    assert len(values) == 50 and all(len(v) == 40 and v.isalnum() for v in values)


def test_record_repr_never_shows_values() -> None:
    record = Record(current={"password": "s3cr3tvalue"})
    assert "s3cr3tvalue" not in repr(record)


@pytest.mark.parametrize("crash_at", ["stage", "apply", "test", "promote"])
def test_crash_at_a_step_rolls_forward_and_keeps_the_current_credential(crash_at: str) -> None:
    backend, driver, first = _setup()

    def crash(step: str) -> None:
        if step == crash_at:
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        rotate(
            backend,
            "h/fake",
            driver,
            None,
            grace_seconds=0,
            interval_days=30,
            force=True,
            on_step=crash,
        )
    mid = backend.load("h/fake")
    assert mid.current == first.current and driver.login(None, mid.current)
    done = rotate(
        backend,
        "h/fake",
        driver,
        None,
        grace_seconds=0,
        interval_days=30,
        force=crash_at == "stage",
    )
    assert done.record.current != first.current
    if crash_at != "stage":
        assert done.record.current == mid.pending and "stage" not in done.steps
    assert driver.valid == {done.record.current["password"]}


def test_grace_period_keeps_previous_then_revokes() -> None:
    backend, driver, first = _setup()
    done = rotate(backend, "h/fake", driver, None, grace_seconds=60, interval_days=30, force=True)
    assert done.steps == ["stage", "apply", "test", "promote"]
    assert driver.login(None, first.current) and driver.login(None, done.record.current)
    again = rotate(backend, "h/fake", driver, None, grace_seconds=60, interval_days=30, force=True)
    assert again.steps == []  # no second rotation while previous is still valid
    backend.items["h/fake"].promoted_at -= 61
    later = rotate(backend, "h/fake", driver, None, grace_seconds=60, interval_days=30)
    assert later.steps == ["revoke"] and not driver.login(None, first.current)


def test_a_new_credential_that_does_not_log_in_is_not_promoted() -> None:
    backend, driver, first = _setup()
    driver.apply = lambda runner, record, value: None  # type: ignore[method-assign]
    with pytest.raises(RotationError, match="does not log in"):
        rotate(backend, "h/fake", driver, None, grace_seconds=0, interval_days=30, force=True)
    assert backend.load("h/fake").current == first.current


def test_missing_credential_is_a_clear_error() -> None:
    with pytest.raises(RotationError, match="run deploys/secrets.py first"):
        rotate(MemoryBackend(), "h/x", FakeDriver(), None, grace_seconds=0, interval_days=1)


def test_scram_verifier_matches_postgres_format_and_fact_shape() -> None:
    salt = b"0123456789abcdef"
    verifier = scram_verifier("pw", salt, 4096)
    assert verifier.startswith("SCRAM-SHA-256$4096:" + base64.b64encode(salt).decode() + "$")
    keys = verifier.split("$", 2)[2]
    observed = {
        "salt": base64.b64encode(salt).decode(),
        "iterations": 4096,
        "keys_sha256": hashlib.sha256(keys.encode()).hexdigest(),
    }
    assert verifier_matches("pw", observed) and not verifier_matches("other", observed)


def test_login_roles_fact_parses_psql_output() -> None:
    fact = PostgresLoginRoles().process(["app_a|t|4096|c2FsdA==|ab12", "app|f|||", "#done"])
    assert fact["app_a"] == {
        "login": True,
        "iterations": 4096,
        "salt": "c2FsdA==",
        "keys_sha256": "ab12",
    }
    assert fact["app"]["login"] is False


def test_redis_conf_holds_only_hashes() -> None:
    conf = redis_acl_conf("adminpw", ["old", "new"])
    assert "adminpw" not in conf and "old " not in conf
    assert conf.count("#") == 4  # comment + 3 hashes
    assert (
        RedisAcl("x").kind == "redis-app"
        and PostgresAB().next_value({"username": "app_a"})["username"] == "app_b"
    )


def test_postgres_sql_carries_a_verifier_not_the_password() -> None:
    sql = PostgresAB().set_password_sql({"username": "app_a", "password": "Plain123"})
    assert "Plain123" not in sql and "SCRAM-SHA-256$" in sql and "log_min_error_statement" in sql


def test_backend_config_validation() -> None:
    assert config_problems({}) == []
    assert "must be 'vault' or 'aws'" in config_problems({"type": "x"})[0]
    assert any(
        "token" in p
        for p in config_problems({"type": "vault", "address": "https://v", "token": "t"})
    )
    assert validate_host_data({"secrets_backend": "vault"})
    with pytest.raises(SecretsBackendError, match="VAULT_TOKEN"):
        import os

        os.environ.pop("VAULT_TOKEN", None)
        backend_from_config({"type": "vault", "address": "https://vault.invalid:8200"})


def _ctx(marker: dict, **data: Any) -> HostContext:
    return HostContext(
        "h1", ("cache",), data, lambda cls, **kw: marker if cls is SecretsMarker else {}
    )


MARKER = {
    "backend": "vault",
    "location": "vault https://v kv2 secret/hardening",
    "credentials": {"redis-app": {"username": "app", "promoted_at": time.time() - 86400}},
}


def test_backend_check() -> None:
    check = CHECKS["secrets.backend_configured"]
    assert check(_ctx({})).status is Status.FAIL
    assert check(_ctx({}, secrets_backend={"type": "vault"})).status is Status.FAIL
    passed = check(_ctx(MARKER, secrets_backend={"type": "vault"}))
    assert passed.status is Status.PASS and "redis-app" in passed.evidence
    assert check(_ctx(MARKER, secrets_backend={"type": "aws"})).status is Status.FAIL


def test_rotation_age_check() -> None:
    check = CHECKS["secrets.rotation_age"]
    config = {"type": "vault"}
    assert check(_ctx(MARKER, secrets_backend=config)).status is Status.PASS
    old = check(_ctx(MARKER, secrets_backend=config, rotation_interval_days=0))
    assert old.status is Status.FAIL and "redis-app 1.0 days old" in old.evidence
    assert check(_ctx({}, secrets_backend=config)).status is Status.NOT_APPLICABLE
    assert check(_ctx(MARKER)).status is Status.FAIL
