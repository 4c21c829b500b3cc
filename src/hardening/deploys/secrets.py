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
from hardening.deploys.redis import acl_users
from hardening.operations import postgres as postgres_ops
from hardening.operations import secrets as secrets_ops
from hardening.rotation import JwtKeys
from hardening.settings import setting

#: The scheduled rotation's systemd units on rotation_controller hosts (.service/.timer).
ROTATE_UNIT = "hardening-rotate"


def _jwt_keys() -> JwtKeys | None:
    """The JWT keys driver when this host declares a ``jwt_keys_file``."""
    path = setting(host.data, "jwt_keys_file")
    if not path:
        return None
    owner = setting(host.data, "jwt_keys_owner")
    return JwtKeys(path, f"{owner}:{owner}", setting(host.data, "jwt_verify_url"))


def _credential_kinds() -> tuple[str, ...]:
    """Backend credentials this host has: PostgreSQL app roles on primaries, Redis on cache,
    JWT keys where a ``jwt_keys_file`` is declared."""
    kinds = ("postgres-app",) if in_groups("db_primary") else ()
    kinds += ("redis-app",) if in_groups("cache") else ()
    return kinds + (("jwt-keys",) if _jwt_keys() else ())


@deploy("Default passwords replaced")
def default_passwords() -> None:
    # wherever the service is installed, not only in its group: a forgotten Redis counts too
    postgres_ops.no_default_logins(name="PostgreSQL: no default or trust logins")
    acl_users()
    config = setting(host.data, "secrets_backend")
    if not config:
        return
    kinds = _credential_kinds()
    if "postgres-app" in kinds:
        secrets_ops.postgres_app_roles(
            name="PostgreSQL: app_a/app_b login roles from the secrets backend",
            backend_config=config,
        )
    keys = _jwt_keys()
    if keys:
        secrets_ops.jwt_keys(
            name=f"JWT: keys file {keys.path} from the secrets backend",
            backend_config=config,
            keys=keys,
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
        jwt=_jwt_keys(),
        jwt_grace_seconds=setting(host.data, "jwt_max_token_lifetime_seconds"),
    )


@deploy("Scheduled credential rotation")
def rotation_timer() -> None:
    """On the ``rotation_controller`` host: a daily ``hardening-rotate`` timer (SEC-08).

    The oneshot service runs ``hardening rotate <rotation_inventory>`` as root; the rotation
    decides per credential whether it is due (``rotation_interval_days``), so the timer may
    run often. The backend token is read from ``secrets_backend.token_file`` (0600 root,
    provided by the operator), never from a command line or the unit.
    """
    if not setting(host.data, "rotation_controller"):
        return
    inventory = setting(host.data, "rotation_inventory")
    postgres_ops.timer(
        name="Rotation timer: hardening rotate",
        unit=ROTATE_UNIT,
        description="hardening: rotate due credentials",
        exec_start=rotate_command(inventory),
        user="root",
        on_calendar=setting(host.data, "rotation_on_calendar"),
    )


def rotate_command(inventory: str) -> str:
    """The service's ExecStart: the toolkit's CLI rotating every host of ``inventory``."""
    return f"/usr/bin/env hardening rotate {inventory}"
