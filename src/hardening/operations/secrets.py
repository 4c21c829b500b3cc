"""Credentials whose source of truth is the secrets backend (SEC-01, SEC-10).

The order is always: generate on the control node (cryptographic RNG) -> store in the
backend -> apply on the host through stdin (only SCRAM verifiers or password hashes
reach PostgreSQL and Redis). Nothing secret is in an operation argument, a command
line or command output.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pyinfra import host
from pyinfra.api import OperationError, StringCommand, operation
from pyinfra.facts.files import Sha256File

from hardening.facts.postgres import PostgresHbaRules
from hardening.facts.secrets import MARKER_FILE, PostgresLoginRoles
from hardening.rotation import (
    JwtKeys,
    PostgresAB,
    RedisAcl,
    RotationError,
    marker_json,
    rotate,
    verifier_matches,
    write_file_command,
)
from hardening.secrets import Record, SecretsBackend, SecretsBackendError, backend_from_config

_PSQL = "runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -f -"


def credential_name(kind: str) -> str:
    """Backend name of this host's credential ``kind`` (``<inventory host>/<kind>``)."""
    return f"{host.name}/{kind}"


def backend(config: dict[str, Any]) -> SecretsBackend:
    """The configured backend, answering; a backend problem stops the operation cleanly."""
    try:
        chosen = backend_from_config(config)
        if chosen is None:
            raise OperationError("no secrets_backend configured for this host")
        chosen.ping()
    except SecretsBackendError as error:
        raise OperationError(str(error)) from None
    return chosen


def ensure_credential(chosen: SecretsBackend, kind: str, make: Any) -> Record:
    """This host's credential ``kind`` from the backend, generated and stored first if new."""
    try:
        return chosen.ensure(credential_name(kind), make)
    except SecretsBackendError as error:
        raise OperationError(str(error)) from None


@operation()
def postgres_app_roles(backend_config: dict[str, Any], port: int = 5432):
    """
    Application login roles whose passwords live in the secrets backend.

    Creates the NOLOGIN group role ``app`` and the A/B login roles ``app_a``/``app_b``
    (inheriting ``app``, owning nothing), generates the first password into the
    backend (``<host>/postgres-app``) and gives the backend's current role that
    password, as a SCRAM verifier on psql's stdin.

    + backend_config: the ``secrets_backend`` setting
    + port: PostgreSQL's port

    **Example:**

    .. code:: python

        secrets.postgres_app_roles(backend_config=host.data.secrets_backend)
    """
    if not host.get_fact(PostgresHbaRules)["running"]:
        host.noop("PostgreSQL is not running here")
        return
    driver = PostgresAB(port=port)
    record = ensure_credential(backend(backend_config), driver.kind, driver.first_value)
    roles = host.get_fact(PostgresLoginRoles, roles=(*driver.roles, driver.group))
    sql = "" if set(roles) >= {*driver.roles, driver.group} else driver.bootstrap_sql()
    current = record.current or {}
    observed = roles.get(current["username"], {})
    if not (observed.get("login") and verifier_matches(current["password"], observed)):
        sql += driver.set_password_sql(current)
    if sql:
        yield StringCommand(_PSQL, _stdin=sql)
    else:
        host.noop(f"{current['username']} has the backend's current password")


@operation()
def jwt_keys(backend_config: dict[str, Any], keys: JwtKeys):
    """
    The application's JWKS-like keys file from the backend's ``<host>/jwt-keys``.

    Generates the first key (kid and 64 alphanumerics) into the backend if there is none,
    then writes ``keys.path`` (0600, ``keys.owner``) through stdin when it differs: the
    current key signs, the previous one verifies until it is revoked.

    + backend_config: the ``secrets_backend`` setting
    + keys: the ``rotation.JwtKeys`` driver (path, owner, verify URL)

    **Example:**

    .. code:: python

        secrets.jwt_keys(backend_config=host.data.secrets_backend,
                         keys=JwtKeys(path="/etc/app/jwt-keys.json", owner="app:app"))
    """
    record = ensure_credential(backend(backend_config), keys.kind, keys.first_value)
    content = keys.document(record, pending=False)
    if host.get_fact(Sha256File, path=keys.path) == hashlib.sha256(content.encode()).hexdigest():
        host.noop(f"{keys.path} has the backend's keys")
        return
    yield StringCommand(write_file_command(keys.path, keys.owner, "0600"), _stdin=content)


@operation()
def marker(backend_config: dict[str, Any], kinds: tuple[str, ...] = (), path: str = MARKER_FILE):
    """
    Record on the host which backend holds its credentials and when each was rotated.

    The file (0644, no secret values) is what the SEC-10 and SEC-08 checks read.

    + backend_config: the ``secrets_backend`` setting
    + kinds: credential kinds this host has in the backend (``postgres-app``, ``redis-app``)
    + path: the marker file

    **Example:**

    .. code:: python

        secrets.marker(backend_config=host.data.secrets_backend, kinds=("redis-app",))
    """
    chosen = backend(backend_config)
    try:
        records = {kind: chosen.load(credential_name(kind)) for kind in kinds}
    except SecretsBackendError as error:
        raise OperationError(str(error)) from None
    content = marker_json(chosen, {kind: r for kind, r in records.items() if r.exists})
    if host.get_fact(Sha256File, path=path) == hashlib.sha256(content.encode()).hexdigest():
        host.noop(f"{path} is up to date")
        return
    yield StringCommand(write_file_command(path, "root:root", "0644"), _stdin=content)


class HostRunner:
    """``rotation.Runner`` over pyinfra's connection to ``host``: secrets go on stdin."""

    def __init__(self, host_: Any) -> None:
        self.host = host_

    def run(self, command: str, stdin: str | None = None) -> tuple[bool, str]:
        ok, output = self.host.run_shell_command(StringCommand(command), _stdin=stdin)
        return ok, "\n".join(output.stdout_lines)


def drivers(
    chosen: SecretsBackend, kinds: tuple[str, ...], jwt: JwtKeys | None = None
) -> dict[str, Any]:
    """The rotation driver of each credential kind this host has."""
    found: dict[str, Any] = {"jwt-keys": jwt} if jwt and "jwt-keys" in kinds else {}
    if "postgres-app" in kinds:
        found["postgres-app"] = PostgresAB()
    if "redis-app" in kinds:
        admin = chosen.load(credential_name("redis-admin"))
        if not admin.exists:
            raise OperationError("redis-admin is not in the backend: run deploys/secrets.py")
        exporter = chosen.load(credential_name("redis-exporter"))
        found["redis-app"] = RedisAcl(
            admin.current["password"],
            exporter_password=exporter.current["password"] if exporter.exists else "",
        )
    return found


def rotate_host(
    state: Any,
    host: Any,  # noqa: F811  (pyinfra passes the host it runs for)
    backend_config: dict[str, Any],
    kinds: tuple[str, ...],
    grace_seconds: float,
    interval_days: float,
    force: bool = False,
    jwt: JwtKeys | None = None,
    jwt_grace_seconds: float = 3600,
) -> None:
    """Run every credential of ``host`` through ``rotation.rotate``, then refresh its marker.

    Called by ``python.call`` at execution time (deploys/rotate_credentials.py). JWT keys
    keep verifying for ``jwt_grace_seconds`` (the longest token lifetime) after a rotation.
    """
    chosen = backend(backend_config)
    runner = HostRunner(host)
    records = {}
    try:
        for kind, driver in drivers(chosen, kinds, jwt).items():
            name = f"{host.name}/{kind}"
            done = rotate(
                chosen,
                name,
                driver,
                runner,
                grace_seconds=jwt_grace_seconds if kind == "jwt-keys" else grace_seconds,
                interval_days=interval_days,
                force=force,
            )
            records[kind] = done.record
            print(
                f"{host.print_prefix}{name}: {' -> '.join(done.steps) or 'nothing due'}"
                f" ({done.seconds:.1f} s)"
            )
    except (SecretsBackendError, RotationError) as error:
        raise OperationError(str(error)) from None
    content = marker_json(chosen, records)
    runner.run(write_file_command(MARKER_FILE, "root:root", "0644"), content)
