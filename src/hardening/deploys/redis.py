"""Redis hardening: listen only on ``redis_bind``, protected-mode on, ``maxmemory`` with an
eviction policy, persistence as declared; on every host where Redis is installed (a
forgotten Redis counts too).

Order in ``harden()``: after ``default_passwords`` (its ``requirepass`` lets ``CONFIG SET``
apply runtime values without a restart) and before ``tls`` (which adds the TLS port).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError

from hardening.operations import redis as redis_ops
from hardening.settings import setting


@deploy("Redis interfaces, memory limit, eviction and persistence")
def redis() -> None:
    bind = list(setting(host.data, "redis_bind"))
    policy, save = setting(host.data, "redis_maxmemory_policy"), setting(host.data, "redis_save")
    try:
        redis_ops.validate_settings(bind, policy, save)
    except ValueError as error:
        raise DeployError(f"{error}: nothing changed") from None
    redis_ops.server_settings(
        name="Redis: bind, protected-mode, maxmemory, eviction, persistence",
        bind=bind,
        maxmemory_percent=int(setting(host.data, "redis_maxmemory_percent")),
        policy=policy,
        save=save,
        appendonly=bool(setting(host.data, "redis_appendonly")),
    )
