"""Redis operations: no access without a generated password; interfaces, memory limit,
eviction and persistence as declared."""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from typing import Any

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.files import File, FindInFile, Sha1File, Sha256File
from pyinfra.operations import systemd

from hardening.facts.redis import RedisConfig
from hardening.operations._render import render, sha1
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

    ``default`` (admin), ``app`` (the application, no dangerous commands) and ``exporter``
    (the Redis exporter, introspection only) get passwords generated into the backend
    (``<host>/redis-default``, ``<host>/redis-app``, ``<host>/redis-exporter``) first;
    ``secrets_conf`` (0640 redis) then holds only their SHA-256 hashes as ``user`` lines, plus the
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
    exporter = ensure_credential(
        chosen, "redis-exporter", lambda: {"username": "exporter", "password": generate_password()}
    )
    passwords = [app.previous["password"]] if app.previous and not app.previous_revoked else []
    content = redis_acl_conf(
        admin.current["password"],
        [*passwords, app.current["password"]],
        exporter_password=exporter.current["password"],
    )
    changed = False
    if host.get_fact(Sha256File, path=secrets_conf) != hashlib.sha256(content.encode()).hexdigest():
        changed = True
        yield StringCommand(write_file_command(secrets_conf, "redis:redis", "0640"), _stdin=content)
    else:
        host.noop(f"{secrets_conf} has the backend's users")
    changed = (yield from _include(config, secrets_conf)) or changed
    yield from systemd.service._inner(service, running=True, enabled=True, restarted=changed)


#: Redis include file with interfaces, memory limit, eviction and persistence; 0640 redis.
HARDENING_CONF = "/etc/redis/hardening-redis.conf"
#: ``maxmemory-policy`` values Redis 7 knows.
POLICIES = (
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
)


def validate_settings(bind: list[str] | tuple[str, ...], policy: str, save: str) -> None:
    """Raise ``ValueError`` for values Redis would reject at its next start."""
    if policy not in POLICIES:
        raise ValueError(f"redis_maxmemory_policy must be one of {', '.join(POLICIES)}: {policy!r}")
    pairs = save.split()
    if len(pairs) % 2 or not all(p.isdigit() for p in pairs):
        raise ValueError(f"redis_save must be 'SECONDS CHANGES' pairs, got {save!r}")
    if not bind or any(not a or " " in a or '"' in a for a in bind):
        raise ValueError(f"redis_bind must list addresses, got {list(bind)!r}")


def render_settings(
    bind: list[str] | tuple[str, ...],
    maxmemory: int,
    policy: str = "allkeys-lru",
    save: str = "3600 1 300 100 60 10000",
    appendonly: bool = False,
) -> str:
    """The Redis include file (``validate_settings`` first)."""
    validate_settings(bind, policy, save)
    pairs = save.split()
    return render(
        "redis-hardening.conf.j2",
        bind=bind,
        maxmemory=int(maxmemory),
        policy=policy,
        save=" ".join(pairs),
        appendonly=appendonly,
    )


def maxmemory_for(mem_total: int | None, percent: int) -> int:
    """``percent`` of the host's memory in bytes, rounded down to whole MiB (at least 64 MiB)."""
    if not 1 <= percent <= 90:
        raise ValueError(f"redis_maxmemory_percent must be 1-90, got {percent}")
    mib = (mem_total or 0) * percent // 100 // 2**20
    return max(mib, 64) * 2**20


def _runtime_apply(content: str, service: str) -> str:
    """Shell: ``CONFIG SET`` the include file's runtime values (authenticated with the
    ``requirepass`` of the secrets work through the environment, never argv); restart Redis
    when that is refused (e.g. ACL users whose passwords only the secrets backend knows)."""
    values = []
    for line in content.splitlines():
        key, _, value = line.partition(" ")
        if key in ("maxmemory", "maxmemory-policy", "save", "appendonly", "protected-mode"):
            values.append(line)
    return (
        f"a=$(sed -n 's/^requirepass //p' {SECRETS_CONF} 2>/dev/null);"
        ' if [ -n "$a" ]; then export REDISCLI_AUTH="$a"; fi;'
        f' [ "$(timeout 5 redis-cli --no-auth-warning -h 127.0.0.1 -p 6379 CONFIG SET'
        f' {" ".join(values)} 2>/dev/null)" = OK ] || systemctl restart {service}'
    )


@operation()
def server_settings(
    bind: list[str] | tuple[str, ...] = ("127.0.0.1", "-::1"),
    maxmemory_percent: int = 25,
    policy: str = "allkeys-lru",
    save: str = "3600 1 300 100 60 10000",
    appendonly: bool = False,
    config: str = "/etc/redis/redis.conf",
    path: str = HARDENING_CONF,
    service: str = "redis-server",
):
    """
    Redis listens only on ``bind``, keeps protected-mode on, evicts by ``policy`` above
    ``maxmemory_percent`` % of the host's memory and persists as declared (RDB ``save``
    points, ``appendonly``), from an include file loaded last by ``redis.conf``.

    Values that Redis can change at runtime are applied with ``CONFIG SET`` (no dropped
    connections); Redis restarts only when ``bind`` changed, the include is new, or
    ``CONFIG SET`` is refused. If it does not come back, the previous file is restored.

    + bind: listen addresses (``-`` prefix: skipped when absent, e.g. ``-::1``)
    + maxmemory_percent: memory limit as a percentage of the host's memory
    + policy: ``maxmemory-policy`` (``allkeys-lru`` for a cache)
    + save: RDB snapshot points, ``SECONDS CHANGES`` pairs; empty: no snapshots
    + appendonly: AOF persistence
    + config: the main redis.conf
    + path: the include file
    + service: systemd unit

    **Example:**

    .. code:: python

        redis.server_settings(name="Redis limits", bind=["127.0.0.1", "10.0.0.7"],
                              maxmemory_percent=25, policy="allkeys-lru")
    """
    fact = host.get_fact(RedisConfig, config=config)
    if not fact["installed"]:
        host.noop(f"Redis is not installed here ({config} does not exist)")
        return
    try:
        maxmemory = maxmemory_for(fact["mem_total"], maxmemory_percent)
        content = render_settings(bind, maxmemory, policy, save, appendonly)
    except ValueError as error:
        raise OperationError(f"{error}: nothing changed") from None
    changed = host.get_fact(Sha1File, path=path) != sha1(content)
    if changed:
        yield StringCommand(
            f"touch {path} && cp -a {path} {path}.previous && "
            + write_file_command(path, "redis:redis", "0640"),
            _stdin=content,
        )
    else:
        host.noop(f"{path} is up to date")
    included = yield from _include(config, path)
    if not (changed or included):
        return
    if included or fact["bind"] != list(bind):
        apply = f"systemctl restart {service}"
    else:
        apply = _runtime_apply(content, service)
    yield StringCommand(
        f"{apply}; sleep 1; if systemctl is-active -q {service}; then rm -f {path}.previous;"
        f" else mv {path}.previous {path}; systemctl restart {service};"
        " echo 'Redis did not start with the new settings: restored the previous file' >&2;"
        " exit 1; fi"
    )
