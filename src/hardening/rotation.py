"""Zero-downtime credential rotation: a state machine persisted in the secrets backend.

One rotation of a credential walks these steps; each ends with the backend recording
it, so a run that dies anywhere is resumed (rolled forward) by the next run::

    revoke   previous still valid and its grace period over -> disable it on the host
    stage    no pending value -> generate one, store it as *pending* (never a second)
    apply    make pending valid on the host *next to* current (nothing stops working)
    test     log in on the host with the pending value (a real login)
    promote  pending -> current, current -> previous (still valid for the grace period)

Credentials (``Driver``) keep two values valid during the overlap:

- ``PostgresAB``: login roles ``app_a``/``app_b`` that own nothing and inherit the
  NOLOGIN group role ``app``; rotation sets the other role's password, the old role is
  set NOLOGIN after the grace period. Only SCRAM verifiers reach the host (psql stdin).
- ``RedisAcl``: ACL user ``app`` with two passwords during the overlap (``#sha256``
  hashes), the old one removed after the grace period; persisted in the ACL include file.
- ``JwtKeys``: a JWKS-like file of active signing keys (``kid -> key`` and the ``current``
  kid): the pending key is applied verify-only, tested with a token signed by it that the
  application must accept, made the signing key after the promotion, and the previous
  key is removed once the longest token lifetime (the grace period) has passed.

Drivers may have a ``settle(runner, record)`` that makes the host match the backend's
promoted state (the JWT signing kid); ``rotate`` calls it after a promotion and at the
start of every run, so a crash between promotion and settling is rolled forward too.

``HARDENING_ROTATION_PAUSE_AT=<step>`` or ``<credential>:<step>`` (tests only) makes
``rotate`` print ``#paused-at <credential>:<step>`` and sleep before that step so a test
can ``kill -9`` it there; unset (production) it does nothing.

Hosts are reached through a ``Runner`` (``run(command, stdin) -> (ok, stdout)``): the
secret travels on stdin, never in a command line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from hardening.errors import HardeningError
from hardening.facts.redis import ADMIN_USER, EXPORTER_ACL
from hardening.facts.secrets import MARKER_FILE
from hardening.secrets import Record, SecretsBackend, SecretsBackendError, generate_password

#: The Redis include file with the hardening ACL users (only password hashes).
REDIS_ACL_CONF = "/etc/redis/hardening-auth.conf"
STEPS = ("revoke", "stage", "apply", "test", "promote", "settle")
#: Test hook: pause (sleep) before this step so a test can kill the process there.
PAUSE_ENV = "HARDENING_ROTATION_PAUSE_AT"


class RotationError(HardeningError):
    """A rotation step failed; the backend state is left resumable."""


class Runner(Protocol):
    def run(self, command: str, stdin: str | None = None) -> tuple[bool, str]:
        """Run ``command`` on the host (``stdin`` piped in); return success and stdout."""


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = 4096) -> str:
    """PostgreSQL's ``SCRAM-SHA-256`` verifier of ``password`` (what ``pg_authid`` stores)."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server = hmac.digest(salted, b"Server Key", "sha256")
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}$"
        f"{b64(stored).decode()}:{b64(server).decode()}"
    )


def verifier_matches(password: str, observed: dict) -> bool:
    """Whether a ``PostgresLoginRoles`` entry (salt, iterations, keys digest) is ``password``."""
    if not observed.get("salt"):
        return False
    verifier = scram_verifier(password, base64.b64decode(observed["salt"]), observed["iterations"])
    keys = verifier.split("$", 2)[2]
    return hashlib.sha256(keys.encode()).hexdigest() == observed["keys_sha256"]


def redis_password_hash(password: str) -> str:
    """Redis ACL ``#<sha256>`` form of a password."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()


#: ACL rules of the application user: everything but the commands Redis flags dangerous
#: (FLUSHALL, FLUSHDB, KEYS, CONFIG, DEBUG, SHUTDOWN, MONITOR, ...).
APP_ACL = "~* &* +@all -@dangerous"


#: The ``default`` user: off, no password, no keys, no commands (persisted and at runtime).
DEFAULT_OFF_ACL = "off resetpass resetkeys resetchannels -@all"
#: ACL rules of the admin user our tooling authenticates as.
ADMIN_ACL = "~* &* +@all"


def redis_acl_conf(
    admin_password: str,
    app_passwords: list[str],
    app_user: str = "app",
    exporter_password: str = "",
) -> str:
    """The Redis include file: ``default`` off, ``admin`` with the admin password, ``app`` with
    1-2 passwords (no dangerous commands), and ``exporter`` (introspection only) when it has a
    password."""
    app = " ".join(redis_password_hash(password) for password in app_passwords)
    exporter = (
        f"user exporter on {redis_password_hash(exporter_password)} {EXPORTER_ACL}\n"
        if exporter_password
        else ""
    )
    return (
        "# managed by hardening: password hashes only; values live in the secrets backend\n"
        f"user default {DEFAULT_OFF_ACL}\n"
        f"user {ADMIN_USER} on {redis_password_hash(admin_password)} {ADMIN_ACL}\n"
        f"user {app_user} on {app} {APP_ACL}\n" + exporter
    )


def write_file_command(path: str, owner: str, mode: str) -> str:
    """Shell that writes stdin to ``path`` atomically with ``owner`` and ``mode``."""
    quoted, temp = shlex.quote(path), shlex.quote(path + ".hardening-tmp")
    return (
        f"umask 077 && mkdir -p $(dirname {quoted}) && cat > {temp} && chown {owner} {temp}"
        f" && chmod {mode} {temp} && mv -f {temp} {quoted}"
    )


def _must(runner: Runner, what: str, command: str, stdin: str | None = None) -> str:
    ok, output = runner.run(command, stdin)
    if not ok:
        raise RotationError(f"{what} failed on the host (backend state kept; rerun to resume)")
    return output


class Driver(Protocol):
    """How one kind of credential is generated, applied, tested and revoked on a host."""

    kind: str

    def first_value(self) -> dict[str, str]: ...

    def next_value(self, current: dict[str, str]) -> dict[str, str]: ...

    def apply(self, runner: Runner, record: Record, value: dict[str, str]) -> None: ...

    def login(self, runner: Runner, value: dict[str, str]) -> bool: ...

    def revoke(self, runner: Runner, record: Record) -> None: ...


_PSQL = "runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -f -"
# statements carrying verifiers are never logged, not even when they fail
_QUIET = "SET log_min_error_statement = panic; SET log_statement = 'none';\n"


@dataclass
class PostgresAB:
    """A/B login roles inheriting a NOLOGIN group role.

    + group: the group role owning the application's privileges (``app``)
    + roles: the two login roles that alternate (``app_a``, ``app_b``)
    + port: the server's port (logins are tested on 127.0.0.1)
    """

    group: str = "app"
    roles: tuple[str, str] = ("app_a", "app_b")
    port: int = 5432
    database: str = "postgres"
    kind: str = "postgres-app"

    def bootstrap_sql(self) -> str:
        """Create the group and login roles when missing (idempotent SQL)."""
        lines = [
            "DO $$ BEGIN",
            f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{self.group}') THEN",
            f"CREATE ROLE {self.group} NOLOGIN; END IF;",
        ]
        for role in self.roles:
            lines += [
                f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN",
                f"CREATE ROLE {role} NOLOGIN INHERIT IN ROLE {self.group}; END IF;",
            ]
        return "\n".join([*lines, "END $$;", ""])

    def set_password_sql(self, value: dict[str, str]) -> str:
        verifier = scram_verifier(value["password"])
        return f"{_QUIET}ALTER ROLE {value['username']} LOGIN PASSWORD '{verifier}';\n"

    def first_value(self) -> dict[str, str]:
        return {"username": self.roles[0], "password": generate_password()}

    def next_value(self, current: dict[str, str]) -> dict[str, str]:
        other = self.roles[1] if current["username"] == self.roles[0] else self.roles[0]
        return {"username": other, "password": generate_password()}

    def apply(self, runner: Runner, record: Record, value: dict[str, str]) -> None:
        sql = self.bootstrap_sql() + self.set_password_sql(value)
        _must(runner, f"setting the password of {value['username']}", _PSQL, sql)

    def login(self, runner: Runner, value: dict[str, str]) -> bool:
        command = (
            "read -r PGPASSWORD && export PGPASSWORD && PGCONNECT_TIMEOUT=5 psql -XAtqw"
            f" -h 127.0.0.1 -p {self.port} -U {shlex.quote(value['username'])}"
            f" -d {shlex.quote(self.database)} -c 'SELECT 1'"
        )
        ok, output = runner.run(command, value["password"])
        return ok and output.strip() == "1"

    def revoke(self, runner: Runner, record: Record) -> None:
        old = (record.previous or {}).get("username")
        if old and old != (record.current or {}).get("username"):
            sql = f"{_QUIET}ALTER ROLE {old} NOLOGIN PASSWORD NULL;\n"
            _must(runner, f"disabling {old}", _PSQL, sql)


@dataclass
class RedisAcl:
    """ACL user ``app`` with two passwords during the overlap, changed through the ``admin``
    user's connection (``AUTH admin`` on redis-cli's stdin, never argv).

    + admin_password: the ``admin`` user's password (from the backend)
    + exporter_password: the ``exporter`` user's password, kept in the persisted file
    + conf: the include file that persists the ACL users
    """

    admin_password: str
    user: str = "app"
    conf: str = REDIS_ACL_CONF
    exporter_password: str = ""
    port: int = 6379
    kind: str = "redis-app"

    def _cli(self) -> str:
        return f"redis-cli --no-auth-warning -h 127.0.0.1 -p {self.port}"

    def _set(self, runner: Runner, passwords: list[str], what: str) -> None:
        hashes = " ".join(redis_password_hash(p) for p in passwords)
        commands = (
            f"AUTH {ADMIN_USER} {self.admin_password}\n"
            f"ACL SETUSER {self.user} on resetpass {hashes} {APP_ACL}\n"
        )
        output = _must(runner, what, self._cli(), commands)
        if output.split() != ["OK", "OK"]:
            raise RotationError(f"{what}: Redis refused the ACL change")
        conf = redis_acl_conf(self.admin_password, passwords, self.user, self.exporter_password)
        _must(
            runner,
            f"{what} (persisting {self.conf})",
            write_file_command(self.conf, "redis:redis", "0640"),
            conf,
        )

    def first_value(self) -> dict[str, str]:
        return {"username": self.user, "password": generate_password()}

    def next_value(self, current: dict[str, str]) -> dict[str, str]:
        return self.first_value()

    def apply(self, runner: Runner, record: Record, value: dict[str, str]) -> None:
        keep = [record.current["password"]] if record.current else []
        self._set(
            runner, [*keep, value["password"]], f"adding a password to Redis user {self.user}"
        )

    def login(self, runner: Runner, value: dict[str, str]) -> bool:
        command = (
            "read -r REDISCLI_AUTH && export REDISCLI_AUTH && "
            f"{self._cli()} --user {shlex.quote(value['username'])} PING"
        )
        ok, output = runner.run(command, value["password"])
        return ok and output.strip() == "PONG"

    def revoke(self, runner: Runner, record: Record) -> None:
        if record.current:
            self._set(
                runner, [record.current["password"]], f"removing the old {self.user} password"
            )


def pause_at(name: str, label: str) -> None:
    """The ``HARDENING_ROTATION_PAUSE_AT`` test hook: announce the step, then wait to be killed."""
    if os.environ.get(PAUSE_ENV) in (label, f"{name}:{label}"):
        print(f"#paused-at {name}:{label}", flush=True)
        time.sleep(float(os.environ.get("HARDENING_ROTATION_PAUSE_SECONDS", "600")))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt_token(kid: str, key: str, claims: dict[str, object]) -> str:
    """An HS256 JWT with ``kid`` in its header, signed with ``key``."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = _b64url(json.dumps(claims, sort_keys=True).encode())
    signature = hmac.digest(key.encode(), f"{header}.{body}".encode(), "sha256")
    return f"{header}.{body}.{_b64url(signature)}"


@dataclass
class JwtKeys:
    """A JWKS-like file of the application's HS256 keys: ``{"current": kid, "keys": {kid: key}}``.

    + path: the keys file (the application reads it again when it changes)
    + owner: its owner (``user:group``), mode 0600: only the application reads it
    + verify_url: an application URL that answers 200 only for a valid token
      (``Authorization: Bearer``); the test step sends a token signed with the new key
    """

    path: str = "/etc/hardening-demo-app/jwt-keys.json"
    owner: str = "hardening-demo-app:hardening-demo-app"
    verify_url: str = "http://127.0.0.1:8000/api/session"
    kind: str = "jwt-keys"

    def first_value(self) -> dict[str, str]:
        return {"kid": generate_password(12), "key": generate_password(64)}

    def next_value(self, current: dict[str, str]) -> dict[str, str]:
        return self.first_value()

    def document(self, record: Record, pending: bool = True) -> str:
        """The file for ``record``: current signs; previous (until revoked) and pending verify."""
        stages = [record.current]
        if record.previous and not record.previous_revoked:
            stages.append(record.previous)
        if pending and record.pending:
            stages.append(record.pending)
        keys = {value["kid"]: value["key"] for value in stages if value}
        body = {"current": record.current["kid"], "keys": dict(sorted(keys.items()))}
        return json.dumps(body, sort_keys=True) + "\n"

    def _write(self, runner: Runner, content: str, what: str) -> None:
        digest = hashlib.sha256(content.encode()).hexdigest()
        ok, output = runner.run(f"sha256sum {shlex.quote(self.path)} 2>/dev/null; true")
        if ok and output.split()[:1] == [digest]:
            return
        _must(runner, what, write_file_command(self.path, self.owner, "0600"), content)

    def apply(self, runner: Runner, record: Record, value: dict[str, str]) -> None:
        self._write(runner, self.document(record), f"adding key {value['kid']} to {self.path}")

    def settle(self, runner: Runner, record: Record) -> None:
        """Sign with the backend's current kid (keeps previous for verification until revoked)."""
        self._write(runner, self.document(record), f"signing with the current key in {self.path}")

    def login(self, runner: Runner, value: dict[str, str]) -> bool:
        now = int(time.time())
        token = jwt_token(value["kid"], value["key"], {"sub": "rotation-test", "exp": now + 60})
        command = (
            "curl -fsS -o /dev/null -w '%{http_code}' --max-time 5 -H @- "
            f"{shlex.quote(self.verify_url)}"
        )
        ok, output = runner.run(command, f"Authorization: Bearer {token}")
        return ok and output.strip() == "200"

    def revoke(self, runner: Runner, record: Record) -> None:
        done = Record(**{**record.__dict__, "previous_revoked": True, "pending": None})
        self._write(runner, self.document(done), f"removing the old key from {self.path}")


def marker_entry(record: Record) -> dict[str, object]:
    """What the host's marker file says about one credential (no values)."""
    return {
        "username": (record.current or {}).get("username", ""),
        "promoted_at": round(record.promoted_at or 0),
    }


@dataclass
class Outcome:
    """What one ``rotate`` call did: the steps it ran and the state it left."""

    steps: list[str]
    record: Record
    seconds: float


def rotate(
    backend: SecretsBackend,
    name: str,
    driver: Driver,
    runner: Runner,
    *,
    grace_seconds: float,
    interval_days: float,
    force: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> Outcome:
    """Run the credential ``name`` through the state machine as far as it may go now.

    + backend / name: where the credential's stages live
    + driver: how to apply, test and revoke it on the host ``runner`` reaches
    + grace_seconds: how long ``previous`` stays valid after a promotion
    + interval_days: rotate when ``current`` is older than this (or ``force``)
    + on_step: called before each step (tests use it to crash at a step boundary)
    """
    started, steps = time.monotonic(), []

    def step(label: str) -> None:
        if on_step:
            on_step(label)
        pause_at(name, label)
        steps.append(label)

    settle = getattr(driver, "settle", None)

    record = backend.load(name)
    if not record.exists:
        raise RotationError(f"{name} is not in {backend.describe()}: run deploys/secrets.py first")
    if settle and not record.pending:
        settle(runner, record)
    if record.previous and not record.previous_revoked:
        if time.time() - (record.promoted_at or 0) < grace_seconds:
            return Outcome(steps, record, time.monotonic() - started)
        step("revoke")
        driver.revoke(runner, record)
        record = backend.mark_previous_revoked(name, record)
    age = record.age_days()
    due = force or age is None or age >= interval_days
    if not record.pending and not due:
        return Outcome(steps, record, time.monotonic() - started)
    if not record.pending:
        step("stage")
        record = backend.stage_pending(name, record, driver.next_value(record.current))
    step("apply")
    driver.apply(runner, record, record.pending)
    step("test")
    if not driver.login(runner, record.pending):
        raise RotationError(f"{name}: the new credential does not log in; current one kept")
    step("promote")
    record = backend.promote(name, record)
    if settle:
        step("settle")
        settle(runner, record)
    if grace_seconds <= 0:
        step("revoke")
        driver.revoke(runner, record)
        record = backend.mark_previous_revoked(name, record)
    return Outcome(steps, record, time.monotonic() - started)


def marker_json(backend: SecretsBackend, records: dict[str, Record]) -> str:
    """The marker file's content: backend kind and location, credentials it holds."""
    body = {
        "backend": backend.kind,
        "location": backend.describe(),
        "credentials": {name: marker_entry(record) for name, record in sorted(records.items())},
    }
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


__all__ = [
    "MARKER_FILE",
    "JwtKeys",
    "PostgresAB",
    "RedisAcl",
    "RotationError",
    "Runner",
    "SecretsBackendError",
    "rotate",
]
