"""Redis operations: no access without a generated password."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.facts.files import File, FindInFile
from pyinfra.operations import systemd

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
    include = f"include {secrets_conf}"
    if not host.get_fact(FindInFile, path=config, pattern=f"^{include}$"):
        changed = True
        yield StringCommand("printf '\\n%s\\n'", QuoteString(include), ">>", QuoteString(config))
    else:
        host.noop(f"{config} includes {secrets_conf}")
    yield from systemd.service._inner(service, running=True, enabled=True, restarted=changed)
