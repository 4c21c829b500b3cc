"""SEC-01/SEC-10: default passwords replaced; SEC-08: zero-downtime credential rotation.

With a ``secrets_backend`` in inventory the backend is the source of truth: every
generated credential is stored there first, then applied. Without one, Redis gets a
password generated on the host (the SEC-10 check then fails and says why).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import python

from hardening.deploys._common import in_groups
from hardening.operations import postgres as postgres_ops
from hardening.operations import redis as redis_ops
from hardening.operations import secrets as secrets_ops
from hardening.settings import setting


def _credential_kinds() -> tuple[str, ...]:
    """Backend credentials this host has: PostgreSQL app roles on primaries, Redis on cache."""
    kinds = ("postgres-app",) if in_groups("db_primary") else ()
    return kinds + (("redis-app",) if in_groups("cache") else ())


@deploy("Default passwords replaced")
def default_passwords() -> None:
    # wherever the service is installed, not only in its group: a forgotten Redis counts too
    postgres_ops.no_default_logins(name="PostgreSQL: no default or trust logins")
    config = setting(host.data, "secrets_backend")
    if not config:
        redis_ops.require_password(name="Redis: requires a generated password")
        return
    kinds = _credential_kinds()
    if "postgres-app" in kinds:
        secrets_ops.postgres_app_roles(
            name="PostgreSQL: app_a/app_b login roles from the secrets backend",
            backend_config=config,
        )
    redis_ops.acl_from_backend(
        name="Redis: ACL users from the secrets backend", backend_config=config
    )
    secrets_ops.marker(name="Record the secrets backend", backend_config=config, kinds=kinds)


@deploy("Rotate credentials")
def rotate_credentials() -> None:
    """Rotate this host's backend credentials that are due (or all with rotation_force)."""
    config = setting(host.data, "secrets_backend")
    if not config:
        return
    python.call(
        name="Rotate credentials (revoke, stage, apply, test, promote)",
        function=secrets_ops.rotate_host,
        backend_config=config,
        kinds=_credential_kinds(),
        grace_seconds=setting(host.data, "rotation_grace_seconds"),
        interval_days=setting(host.data, "rotation_interval_days"),
        force=setting(host.data, "rotation_force"),
    )
