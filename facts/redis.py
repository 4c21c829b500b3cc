"""Redis facts: authentication (``RedisAuthState``), ACL users (``RedisAclUsers``: is the
``default`` user off?) and configuration (``RedisConfig``), plus the shell pieces our tooling
uses to log in as the ``admin`` ACL user (password in ``REDISCLI_AUTH``, never argv).

Installed as ``hardening.facts.redis``.
"""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase, StringCommand
from pyinfra.api.command import QuoteString

#: Publicly known Redis passwords that must not open the server.
WELL_KNOWN_PASSWORDS: tuple[str, ...] = ("foobared", "redis", "password")


class RedisAuthState(FactBase):
    """
    Whether Redis answers without AUTH, or with a publicly known password.

    .. code:: python

        {"installed": True, "reachable": True, "open_without_auth": False,
         "accepted_default_passwords": []}
    """

    @staticmethod
    def default() -> dict:
        return {
            "installed": False,
            "reachable": False,
            "open_without_auth": False,
            "accepted_default_passwords": [],
        }

    def command(self, host: str = "127.0.0.1", port: int = 6379) -> StringCommand:
        target = ["-h", QuoteString(host), "-p", QuoteString(str(port))]
        parts: list = [
            "if ! command -v redis-cli >/dev/null 2>&1; then echo '#absent'; exit 0; fi;",
            "echo ping:$(timeout 5 redis-cli --no-auth-warning",
            *target,
            "PING 2>&1 | head -c 60);",
        ]
        for password in WELL_KNOWN_PASSWORDS:
            parts += [
                f"echo {password}:$(REDISCLI_AUTH={password} timeout 5 redis-cli --no-auth-warning",
                *target,
                "PING 2>&1 | head -c 60);",
            ]
        return StringCommand(*parts)

    def process(self, output: list[str]) -> dict:
        if "#absent" in output:
            return self.default()
        answers = dict(line.split(":", 1) for line in output if ":" in line)
        ping = answers.get("ping", "")
        return {
            "installed": True,
            "reachable": "PONG" in ping or "NOAUTH" in ping or "WRONGPASS" in ping,
            "open_without_auth": "PONG" in ping,
            "accepted_default_passwords": [
                password
                for password in WELL_KNOWN_PASSWORDS
                if "PONG" in answers.get(password, "") and "PONG" not in ping
            ],
        }


#: awk printing a Redis configuration file with its ``include`` files inlined (append the path).
EXPAND_INCLUDES = (
    "awk '$1==\"include\"{while((getline l < $2)>0) print l; close($2); next} {print}'"
)


def redis_target_shell(config: str = "/etc/redis/redis.conf") -> str:
    """Shell that sets ``t`` to redis-cli's connection flags from ``config``: the plaintext
    port on 127.0.0.1, or when that is ``port 0`` (TLS only) the TLS port on localhost,
    verified with the configured CA."""
    return (
        f't=$({EXPAND_INCLUDES} {shlex.quote(config)} 2>/dev/null | awk \'$1=="port"{{p=$2}}'
        ' $1=="tls-port"{tp=$2} $1=="tls-ca-cert-file"{ca=$2}'
        ' END{if (p=="0" && tp) print "--tls --cacert " ca " -h localhost -p " tp;'
        ' else print "-h 127.0.0.1 -p " (p ? p : 6379)}\');'
    )


#: Redis 7's values when the configuration does not set them (Debian sets bind).
REDIS_DEFAULTS: dict[str, str] = {
    "bind": "* -::*",
    "protected-mode": "yes",
    "maxmemory": "0",
    "maxmemory-policy": "noeviction",
    "save": "3600 1 300 100 60 10000",
    "appendonly": "no",
}
_UNITS = {"k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}


def memory_bytes(text: str) -> int:
    """Redis memory notation to bytes: ``6gb`` -> 6442450944, ``100m`` -> 100000000."""
    text = text.strip().lower()
    number = text.rstrip("kmgb")
    unit = text[len(number) :]
    return int(number or 0) * _UNITS.get(unit, 1)


class RedisConfig(FactBase):
    """
    Redis' configured interfaces, memory limit, eviction and persistence (``redis.conf``
    with its ``include`` files, last value wins), the addresses it really listens on and
    the host's memory. Only these directives are read: no password or ACL line leaves
    the host.

    .. code:: python

        {"installed": True, "active": True, "bind": ["127.0.0.1", "-::1"],
         "protected_mode": True, "maxmemory": 6442450944, "maxmemory_policy": "allkeys-lru",
         "save": "3600 1 300 100 60 10000", "appendonly": False,
         "listening": ["127.0.0.1:6379", "[::1]:6379"], "mem_total": 25769803776}
    """

    @staticmethod
    def default() -> dict:
        return {"installed": False}

    def command(self, config: str = "/etc/redis/redis.conf") -> StringCommand:
        keys = "|".join(REDIS_DEFAULTS)
        return StringCommand(
            f"c={shlex.quote(config)};",
            'if [ ! -f "$c" ]; then echo "#absent"; exit 0; fi;',
            'echo "#active=$(systemctl is-active redis-server 2>/dev/null)";',
            EXPAND_INCLUDES,
            f"\"$c\" | grep -E '^({keys})[[:space:]]' | sed 's/^/conf:/';",
            "awk '/^MemTotal:/{printf \"#mem=%.0f\\n\", $2*1024}' /proc/meminfo;",
            'ss -H -tlnp 2>/dev/null | awk \'/"redis-server"/{print "#listen=" $4}\'',
        )

    def process(self, output: list[str]) -> dict:
        if "#absent" in output:
            return self.default()
        values = dict(REDIS_DEFAULTS)
        saves: list[str] = []
        fact: dict = {"installed": True, "active": False, "listening": [], "mem_total": None}
        for line in output:
            if line.startswith("#active="):
                fact["active"] = line == "#active=active"
            elif line.startswith("#mem="):
                fact["mem_total"] = int(line[len("#mem=") :])
            elif line.startswith("#listen="):
                fact["listening"].append(line[len("#listen=") :])
            elif line.startswith("conf:"):
                key, _, value = line[len("conf:") :].strip().partition(" ")
                value = value.strip().strip('"')
                if key == "save":
                    saves.append(value)
                else:
                    values[key] = value
        if saves:
            values["save"] = " ".join(s for s in saves if s)
        return fact | {
            "bind": values["bind"].split(),
            "protected_mode": values["protected-mode"] == "yes",
            "maxmemory": memory_bytes(values["maxmemory"]),
            "maxmemory_policy": values["maxmemory-policy"],
            "save": values["save"],
            "appendonly": values["appendonly"] == "yes",
        }


#: Redis include file holding the hardening ACL users (``user default off``, ``user admin``).
ACL_CONF = "/etc/redis/hardening-auth.conf"
#: The ACL user our tooling authenticates as (the ``default`` user is off).
ADMIN_USER = "admin"


#: The introspection-only ACL user the Redis exporter logs in as.
EXPORTER_USER = "exporter"
#: ACL rules of the Redis exporter's user: read-only introspection, no key access.
EXPORTER_ACL = (
    "resetchannels -@all +@connection +info +config|get +slowlog|get +slowlog|len "
    "+latency|latest +dbsize +cluster|info +memory|usage"
)


def acl_password_shell(user: str, conf: str = ACL_CONF) -> str:
    """Shell that prints ``user``'s host-generated password from ``conf`` (nothing when the
    password lives in a secrets backend and ``conf`` holds only its hash)."""
    return f"sed -n 's/^user {user} on >\\([^ ]*\\) .*/\\1/p' {shlex.quote(conf)} 2>/dev/null"


def admin_password_shell(conf: str = ACL_CONF) -> str:
    """Shell that prints the host-generated admin password from ``conf`` (nothing when the
    password lives in a secrets backend and ``conf`` holds only its hash)."""
    return acl_password_shell(ADMIN_USER, conf)


def admin_auth_shell(conf: str = ACL_CONF) -> str:
    """Shell that exports ``REDISCLI_AUTH`` (environment, never argv) with the admin password
    when the host has it; follow it with ``redis-cli --user admin`` (:data:`ADMIN_CLI`)."""
    return f'a=$({admin_password_shell(conf)}); if [ -n "$a" ]; then export REDISCLI_AUTH="$a"; fi;'


#: redis-cli as the admin user (password from ``REDISCLI_AUTH``).
ADMIN_CLI = f"redis-cli --no-auth-warning --user {ADMIN_USER}"


def default_user_state(fact: dict) -> str:
    """``on``/``off`` of Redis' ``default`` user from a ``RedisAclUsers`` fact: live when the
    admin could ask Redis, else as configured (no ``user default`` line: on)."""
    live = fact.get("live") or {}
    if "default" in live:
        return live["default"]
    return (fact.get("configured") or {}).get("default", "on")


class RedisAclUsers(FactBase):
    """
    Redis ACL users and whether each is ``on`` or ``off``: as configured (``user`` lines of
    ``redis.conf`` and its includes, ``requirepass`` present or not) and, when the host holds
    the admin password (``conf``), live from ``ACL LIST``. Only names and on/off leave the
    host, never a password or hash.

    .. code:: python

        {"installed": True, "configured": {"default": "off", "admin": "on"},
         "requirepass": False, "live": {"default": "off", "admin": "on"}, "live_error": ""}
    """

    @staticmethod
    def default() -> dict:
        return {"installed": False}

    def command(self, config: str = "/etc/redis/redis.conf", conf: str = ACL_CONF) -> StringCommand:
        users = (
            'awk \'$1=="user"{s="unset"; for(i=3;i<=NF;i++) if($i=="on"||$i=="off") s=$i;'
            ' print "conf:" $2 " " s} $1=="requirepass"{print "#requirepass"}\''
        )
        return StringCommand(
            f"c={shlex.quote(config)};",
            'if [ ! -f "$c" ]; then echo "#absent"; exit 0; fi; echo "#present";',
            EXPAND_INCLUDES,
            f'"$c" | {users};',
            redis_target_shell(config),
            admin_auth_shell(conf),
            f' if [ -n "$a" ]; then timeout 5 {ADMIN_CLI} $t ACL LIST 2>&1 |',
            'awk \'$1=="user"{print "live:" $2 " " $3; next}'
            ' {print "#live-error:" substr($0, 1, 60)}\'; fi',
        )

    def process(self, output: list[str]) -> dict:
        if "#absent" in output:
            return self.default()
        configured: dict[str, str] = {}
        live: dict[str, str] = {}
        errors = [line.split(":", 1)[1] for line in output if line.startswith("#live-error:")]
        for line in output:
            prefix, _, rest = line.partition(":")
            name, _, state = rest.partition(" ")
            if prefix == "conf":
                configured[name] = state
            elif prefix == "live":
                live[name] = state
        return {
            "installed": True,
            "configured": configured,
            "requirepass": "#requirepass" in output,
            "live": live or None,
            "live_error": errors[0] if errors else "",
        }
