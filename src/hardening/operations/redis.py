"""Redis operations: no access without a generated password; interfaces, memory limit,
eviction and persistence as declared."""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Generator
from typing import Any

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.files import File, FindInFile, Sha1File, Sha256File
from pyinfra.operations import systemd

from hardening.facts.redis import (
    ACL_CONF,
    ADMIN_CLI,
    ADMIN_USER,
    EXPORTER_USER,
    RedisAclUsers,
    RedisConfig,
    acl_password_shell,
    admin_auth_shell,
    admin_password_shell,
    redis_target_shell,
)
from hardening.operations._render import render, sha1
from hardening.operations.secrets import backend, ensure_credential
from hardening.rotation import (
    ADMIN_ACL,
    DEFAULT_OFF_ACL,
    EXPORTER_ACL,
    RedisAcl,
    redis_acl_conf,
    write_file_command,
)
from hardening.secrets import generate_password

#: Redis configuration fragment holding the ACL users (``default`` off, ``admin``, ``exporter``
#: once deploys/monitoring.py ran, and with a secrets backend ``app``); 0640 redis:redis.
SECRETS_CONF = ACL_CONF
#: redis-cli as the ``default`` user (or whoever ``REDISCLI_AUTH`` is), connection flags in ``$t``
#: (:func:`~hardening.facts.redis.redis_target_shell`: plaintext port, else the TLS port).
_CLI = "timeout 5 redis-cli --no-auth-warning $t"

#: Shell: 40 random alphanumerics from the host's /dev/urandom.
_NEW_PASSWORD = "$(head -c 64 /dev/urandom | base64 | tr -dc A-Za-z0-9 | head -c 40)"


def _acl_done(acl: dict, live: bool) -> bool:
    """Whether ``RedisAclUsers`` shows ``default`` off and ``admin`` on, configured (no
    ``requirepass`` left) and, when ``live``, at runtime too."""
    wanted = {"default": "off", ADMIN_USER: "on"}
    states = [acl.get("configured") or {}] + ([acl.get("live") or {}] if live else [])
    return not acl.get("requirepass") and all(
        state.get(name) == value for state in states for name, value in wanted.items()
    )


def admin_acl_script(
    config: str, secrets_conf: str, runtime: bool, service: str = "redis-server"
) -> str:
    """Shell: the admin user with a password generated on the host (kept when ``secrets_conf``
    has one), and the ``default`` user off, persisted in ``secrets_conf`` (0640 redis).

    With ``runtime`` (Redis is running) the admin user is created with ``ACL SETUSER``
    (authenticated with the old ``requirepass`` on stdin/environment) and must log in *before*
    the file is written and ``default`` is switched off; if it does not, nothing is changed
    and the script fails. Passwords are never in argv: ``printf`` is a shell builtin and
    redis-cli reads ``REDISCLI_AUTH``."""
    quoted = shlex.quote(secrets_conf)
    header = "# managed by hardening: the default user is off; our tooling logs in as admin"
    lines = shlex.quote(f"{header}\nuser default {DEFAULT_OFF_ACL}\n")
    admin_line = shlex.quote(f"user {ADMIN_USER} on >%s {ADMIN_ACL}\\n")
    # the exporter's host-generated user (operations/monitoring.py) stays
    keep = f"{{ grep -h '^user {EXPORTER_USER} on >' {quoted} 2>/dev/null || true; }}"
    write = (
        f"tmp={shlex.quote(secrets_conf + '.hardening-tmp')};"
        f' (umask 077; printf %s {lines} > "$tmp"; printf {admin_line} "$pw" >> "$tmp";'
        f' {keep} >> "$tmp")'
        f' && chown redis:redis "$tmp" && chmod 0640 "$tmp" && mv -f "$tmp" {quoted}'
    )
    script = (
        redis_target_shell(config) + f" old=$(sed -n 's/^requirepass //p' {quoted} 2>/dev/null);"
        f" pw=$({admin_password_shell(secrets_conf)});"
        f' [ -n "$pw" ] || pw={_NEW_PASSWORD};'
        f' admin() {{ REDISCLI_AUTH="$pw" {_CLI} --user {ADMIN_USER} "$@"; }};'
    )
    if not runtime:
        return f"{script} {write} && {_include_shell(config, secrets_conf)}"
    create = shlex.quote(f"ACL SETUSER {ADMIN_USER} on >%s {ADMIN_ACL}\\n")
    disable = shlex.quote(
        f"ACL SETUSER default {DEFAULT_OFF_ACL}\n"
        'CONFIG SET requirepass ""\nACL SETUSER default resetpass\n'
    )
    as_old = f'(if [ -n "$old" ]; then export REDISCLI_AUTH="$old"; fi; {_CLI} >/dev/null 2>&1)'
    # a failed AUTH leaves redis-cli connected as `default`: only WHOAMI proves the login
    is_admin = f'[ "$(admin ACL WHOAMI 2>/dev/null)" = {ADMIN_USER} ]'
    return (
        f'{script} {is_admin} || printf {create} "$pw" | {as_old};'
        f" {is_admin} || {{ echo 'Redis: the admin user does not log in:"
        " the default user is left as it was' >&2; exit 1; };"
        f" {write} && {_include_shell(config, secrets_conf)} &&"
        f' if [ "$(printf %s {disable} | admin 2>&1 | tr -d "\\n")" != OKOKOK ]; then'
        f" systemctl restart {service}; {is_admin}; fi"
    )


def exporter_acl_line(password: str = "%s") -> str:
    """The include file's line of the exporter's ACL user (``%s``: a printf format)."""
    return f"user {EXPORTER_USER} on >{password} {EXPORTER_ACL}"


def exporter_acl_script(config: str, secrets_conf: str) -> str:
    """Shell: the introspection-only ACL user ``exporter`` (:data:`EXPORTER_ACL`) with a
    password generated on the host (kept when ``secrets_conf`` has one), persisted in
    ``secrets_conf`` (0640 redis, next to ``admin``) and created at runtime with
    ``ACL SETUSER`` through the admin connection; fails unless ``AUTH exporter`` then
    succeeds. Passwords travel only through ``printf`` (a builtin) into redis-cli's stdin or
    ``REDISCLI_AUTH``, never argv nor output."""
    quoted, tmp = shlex.quote(secrets_conf), shlex.quote(secrets_conf + ".hardening-tmp")
    line = shlex.quote(exporter_acl_line() + "\\n")
    setuser = shlex.quote(f"ACL SETUSER {EXPORTER_USER} reset on >%s {EXPORTER_ACL}\\n")
    auth = shlex.quote(f"AUTH {EXPORTER_USER} %s\\n")
    fail = "echo 'Redis: the exporter user could not be"
    return (
        f"{redis_target_shell(config)} {admin_auth_shell(secrets_conf)}"
        f' [ -n "$a" ] || {{ {fail} made: no admin password in {quoted}\' >&2; exit 1; }};'
        f" e=$({acl_password_shell(EXPORTER_USER, secrets_conf)});"
        f' [ -n "$e" ] || e={_NEW_PASSWORD};'
        f" (umask 077; {{ grep -v '^user {EXPORTER_USER} ' {quoted} || true; }} > {tmp};"
        f' printf {line} "$e" >> {tmp}) && chown redis:redis {tmp} && chmod 0640 {tmp}'
        f" && mv -f {tmp} {quoted} || exit 1;"
        f' [ "$(printf {setuser} "$e" | {_CLI} --user {ADMIN_USER} 2>&1)" = OK ] ||'
        f" {{ {fail} created with ACL SETUSER' >&2; exit 1; }};"
        f' [ "$(printf {auth} "$e" | (unset REDISCLI_AUTH; {_CLI}) 2>&1)" = OK ] ||'
        f" {{ {fail} verified: AUTH {EXPORTER_USER} failed' >&2; exit 1; }}"
    )


def _include_shell(config: str, secrets_conf: str) -> str:
    """Shell: append ``include secrets_conf`` to ``config`` unless it is there."""
    include = shlex.quote(f"include {secrets_conf}")
    return (
        f"{{ grep -qxF {include} {shlex.quote(config)} ||"
        f" printf '\\n%s\\n' {include} >> {shlex.quote(config)}; }}"
    )


@operation()
def require_password(
    config: str = "/etc/redis/redis.conf",
    secrets_conf: str = SECRETS_CONF,
    service: str = "redis-server",
):
    """
    Make Redis refuse clients that do not authenticate: the ``default`` user is off (no
    password, no commands) and our tooling logs in as the ACL user ``admin``.

    A 40-character admin password is generated *on the host* from ``/dev/urandom`` into
    ``secrets_conf`` (mode 0640, owner redis) the first time (an old ``requirepass`` there is
    replaced); it never crosses the network or appears in a command line. ``redis.conf``
    includes that file. A running Redis gets the change with ``ACL SETUSER`` (the admin user
    is created and logs in before ``default`` is switched off; no restart); a stopped one is
    started.

    + config: the main redis.conf
    + secrets_conf: file that holds the ACL users
    + service: systemd unit

    **Example:**

    .. code:: python

        redis.require_password(name="Redis: default user off, admin user")
    """
    fact = host.get_fact(RedisConfig, config=config)
    if not fact["installed"]:
        host.noop(f"Redis is not installed here ({config} does not exist)")
        return
    acl = host.get_fact(RedisAclUsers, config=config, conf=secrets_conf)
    running = fact["active"]
    if _acl_done(acl, live=running):
        host.noop(f"the default user is off, {ADMIN_USER} logs in ({secrets_conf})")
        changed = False
    else:
        changed = True
        # the script adds the include itself, before any restart it may need
        yield StringCommand(admin_acl_script(config, secrets_conf, running, service))
    included = False if changed else (yield from _include(config, secrets_conf))
    restart = (changed or included) and not running
    yield from systemd.service._inner(service, running=True, enabled=True, restarted=restart)


def _include(config: str, secrets_conf: str) -> Generator[Any, None, bool]:
    """Make ``config`` include ``secrets_conf``; return whether that changed it."""
    include = f"include {secrets_conf}"
    if host.get_fact(FindInFile, path=config, pattern=f"^{include}$"):
        host.noop(f"{config} includes {secrets_conf}")
        return False
    yield StringCommand("printf '\\n%s\\n'", QuoteString(include), ">>", QuoteString(config))
    return True


def _restart_verified(config: str, secrets_conf: str, service: str) -> str:
    """Shell: restart ``service``; unless the admin user (password on stdin) logs in, put the
    previous ``secrets_conf`` back (or drop the new file and its include) and restart again."""
    quoted, previous = shlex.quote(secrets_conf), shlex.quote(secrets_conf + ".previous")
    include = shlex.quote(f"\\|^include {secrets_conf}$|d")
    return (
        f"IFS= read -r p; systemctl restart {service}; {redis_target_shell(config)}"
        f' if [ "$(REDISCLI_AUTH="$p" {_CLI} --user {ADMIN_USER} ACL WHOAMI 2>/dev/null)"'
        f" = {ADMIN_USER} ];"
        f" then rm -f {previous}; else"
        f" if [ -f {previous} ]; then mv -f {previous} {quoted};"
        f" else rm -f {quoted}; sed -i {include} {shlex.quote(config)}; fi;"
        f" systemctl restart {service};"
        " echo 'Redis: the admin user does not log in with the new ACL file:"
        " the previous one is back' >&2; exit 1; fi"
    )


@operation()
def acl_from_backend(
    backend_config: dict[str, Any],
    config: str = "/etc/redis/redis.conf",
    secrets_conf: str = SECRETS_CONF,
    service: str = "redis-server",
):
    """
    Redis users whose passwords live in the secrets backend, the ``default`` user off.

    ``admin`` (our tooling), ``app`` (the application, no dangerous commands) and ``exporter``
    (the Redis exporter, introspection only) get passwords generated into the backend
    (``<host>/redis-admin``, ``<host>/redis-app``, ``<host>/redis-exporter``) first;
    ``secrets_conf`` (0640 redis) then holds only their SHA-256 hashes as ``user`` lines, plus
    the previous ``app`` password while a rotation's grace period lasts, and ``user default
    off``. Redis restarts only when the file changed; unless ``admin`` then logs in, the
    previous file is put back (``default`` as it was).

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
        chosen, "redis-admin", lambda: {"username": ADMIN_USER, "password": generate_password()}
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
        quoted = shlex.quote(secrets_conf)
        yield StringCommand(
            f"{{ [ ! -f {quoted} ] || cp -a {quoted} {quoted}.previous; }} && "
            + write_file_command(secrets_conf, "redis:redis", "0640"),
            _stdin=content,
        )
    else:
        host.noop(f"{secrets_conf} has the backend's users")
    changed = (yield from _include(config, secrets_conf)) or changed
    if changed:
        yield StringCommand(
            _restart_verified(config, secrets_conf, service),
            _stdin=admin.current["password"] + "\n",
        )
    yield from systemd.service._inner(service, running=True, enabled=True)


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
    """Shell: ``CONFIG SET`` the include file's runtime values (as the ``admin`` user, its
    host-generated password through the environment, never argv); restart Redis when that is
    refused (e.g. an admin password only the secrets backend knows)."""
    values = []
    for line in content.splitlines():
        key, _, value = line.partition(" ")
        if key in ("maxmemory", "maxmemory-policy", "save", "appendonly", "protected-mode"):
            values.append(line)
    return (
        admin_auth_shell(SECRETS_CONF)
        + f' [ "$(timeout 5 {ADMIN_CLI} -h 127.0.0.1 -p 6379 CONFIG SET'
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
