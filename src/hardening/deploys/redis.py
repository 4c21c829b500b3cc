"""Redis hardening: the ``default`` user off and an ``admin`` ACL user for our tooling (SEC-01),
listen only on ``redis_bind``, protected-mode on, ``maxmemory`` with an eviction policy,
persistence as declared; on every host where Redis is installed (a forgotten Redis counts too).

Order in ``harden()``: after ``default_passwords`` (which runs :func:`acl_users` too; here it
is then a no-op) and before ``tls`` (which adds the TLS port).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError

from hardening.operations import redis as redis_ops
from hardening.settings import setting


def acl_users() -> None:
    """Redis' ``default`` user off and the ``admin`` ACL user our tooling logs in as: with a
    ``secrets_backend``, every user's password from the backend (``app``, ``exporter`` too);
    otherwise an admin password generated on the host."""
    config = setting(host.data, "secrets_backend")
    if config:
        redis_ops.acl_from_backend(
            name="Redis: ACL users from the secrets backend, default user off",
            backend_config=config,
        )
    else:
        redis_ops.require_password(name="Redis: default user off, admin user on")


@deploy("Redis ACL users, interfaces, memory limit, eviction and persistence")
def redis() -> None:
    bind = list(setting(host.data, "redis_bind"))
    policy, save = setting(host.data, "redis_maxmemory_policy"), setting(host.data, "redis_save")
    try:
        redis_ops.validate_settings(bind, policy, save)
    except ValueError as error:
        raise DeployError(f"{error}: nothing changed") from None
    acl_users()
    redis_ops.server_settings(
        name="Redis: bind, protected-mode, maxmemory, eviction, persistence",
        bind=bind,
        maxmemory_percent=int(setting(host.data, "redis_maxmemory_percent")),
        policy=policy,
        save=save,
        appendonly=bool(setting(host.data, "redis_appendonly")),
    )
