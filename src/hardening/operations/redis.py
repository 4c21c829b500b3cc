"""Redis operations: no access without a generated password."""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from typing import Any

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.facts.files import File, FindInFile, Sha256File
from pyinfra.operations import systemd

from hardening.operations.secrets import backend, ensure_credential
from hardening.rotation import RedisAcl, redis_acl_conf, write_file_command
from hardening.secrets import generate_password

#: Redis configuration fragment holding ``requirepass``; 0640 redis:redis.
SECRETS_CONF = "/etc/redis/hardening-auth.conf"


@operation()
def require_password(
    config: str = "/etc/redis/redis.conf",
    secrets_conf: str = SECRETS_CONF,
    service: str = "redis-server",
):
    """
    Make Redis refuse clients that do not authenticate.

    A 40-character password is generated *on the host* from ``/dev/urandom`` into
    ``secrets_conf`` (mode 0640, owner redis) the first time; it never crosses
    the network or appears in a command line. ``redis.conf`` includes that file.
    Redis is restarted only when something changed.

    + config: the main redis.conf
    + secrets_conf: file that receives ``requirepass``
    + service: systemd unit to restart after a change

    **Example:**

    .. code:: python

        redis.require_password(name="Redis requires a password")
    """
    if not host.get_fact(File, path=config):
        host.noop(f"Redis is not installed here ({config} does not exist)")
        return
    changed = False
    if not host.get_fact(File, path=secrets_conf):
        changed = True
        yield StringCommand(
            "umask 077; pw=$(head -c 64 /dev/urandom | base64 | tr -dc A-Za-z0-9 | head -c 40)"
            " && printf 'requirepass %s\\n' \"$pw\" >",
            QuoteString(secrets_conf),
            "&& chown redis:redis",
            QuoteString(secrets_conf),
            "&& chmod 0640",
            QuoteString(secrets_conf),
        )
    else:
        host.noop(f"{secrets_conf} exists")
    changed = (yield from _include(config, secrets_conf)) or changed
    yield from systemd.service._inner(service, running=True, enabled=True, restarted=changed)


def _include(config: str, secrets_conf: str) -> Generator[Any, None, bool]:
    """Make ``config`` include ``secrets_conf``; return whether that changed it."""
    include = f"include {secrets_conf}"
    if host.get_fact(FindInFile, path=config, pattern=f"^{include}$"):
        host.noop(f"{config} includes {secrets_conf}")
        return False
    yield StringCommand("printf '\\n%s\\n'", QuoteString(include), ">>", QuoteString(config))
    return True


@operation()
def acl_from_backend(
    backend_config: dict[str, Any],
    config: str = "/etc/redis/redis.conf",
    secrets_conf: str = SECRETS_CONF,
    service: str = "redis-server",
):
    """
    Redis users whose passwords live in the secrets backend.

    ``default`` (admin) and ``app`` (the application) get passwords generated into the
    backend (``<host>/redis-default``, ``<host>/redis-app``) first; ``secrets_conf``
    (0640 redis) then holds only their SHA-256 hashes as ``user`` lines, plus the
    previous ``app`` password while a rotation's grace period lasts. Redis restarts
    only when the file changed.

    + backend_config: the ``secrets_backend`` setting
    + config: the main redis.conf
    + secrets_conf: the include file with the ``user`` lines
    + service: systemd unit to restart after a change

    **Example:**

    .. code:: python

        redis.acl_from_backend(backend_config=host.data.secrets_backend)
    """
    if not host.get_fact(File, path=config):
        host.noop(f"Redis is not installed here ({config} does not exist)")
        return
    chosen = backend(backend_config)
    admin = ensure_credential(
        chosen, "redis-default", lambda: {"username": "default", "password": generate_password()}
    )
    app = ensure_credential(chosen, RedisAcl.kind, RedisAcl("").first_value)
    passwords = [app.previous["password"]] if app.previous and not app.previous_revoked else []
    content = redis_acl_conf(admin.current["password"], [*passwords, app.current["password"]])
    changed = False
    if host.get_fact(Sha256File, path=secrets_conf) != hashlib.sha256(content.encode()).hexdigest():
        changed = True
        yield StringCommand(write_file_command(secrets_conf, "redis:redis", "0640"), _stdin=content)
    else:
        host.noop(f"{secrets_conf} has the backend's users")
    changed = (yield from _include(config, secrets_conf)) or changed
    yield from systemd.service._inner(service, running=True, enabled=True, restarted=changed)
