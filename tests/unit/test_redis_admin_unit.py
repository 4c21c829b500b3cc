"""Redis' ``default`` user off and the ``admin`` user: the ``RedisAclUsers`` parser on captured
output, SEC-01's judgment on canned facts, the host-side script's order (admin created and
verified before the file is written and ``default`` is switched off, passwords never in a
command) and the operation on a fake host (no-op when done, no restart at runtime)."""

from __future__ import annotations

from hardening.checks import registry
from hardening.facts.redis import (
    RedisAclUsers,
    RedisAuthState,
    admin_auth_shell,
    default_user_state,
    redis_target_shell,
)
from hardening.operations import redis as redis_ops
from hardening.operations.tls import redis_reload
from hardening.results import Status
from hardening.rotation import RedisAcl
from tests.unit.test_checks import context
from tests.unit.test_monitoring_operations import FakeHost, commands, text
from tests.unit.test_redis_unit import _fact

#: ``RedisAclUsers`` output on a fresh Debian 12 host and after deploys/redis.py.
FRESH = ["#present"]
DONE = ["#present", "conf:default off", "conf:admin on", "live:default off", "live:admin on"]
AUTH = {
    "installed": True,
    "reachable": True,
    "open_without_auth": False,
    "accepted_default_passwords": [],
}
UNITS = {
    "SystemdStatus": {"redis-server.service": True},
    "SystemdEnabled": {"redis-server.service": True},
}


def test_parser_and_default_user_state() -> None:
    assert RedisAclUsers().process(["#absent"]) == {"installed": False}
    fresh = RedisAclUsers().process(FRESH)
    assert fresh["configured"] == {} and fresh["live"] is None
    assert default_user_state(fresh) == "on"  # no `user default` line: Redis' default user
    done = RedisAclUsers().process(DONE)
    assert done["live"] == {"default": "off", "admin": "on"} and not done["requirepass"]
    assert default_user_state(done) == "off"
    # live beats configured (a file written but not applied)
    mixed = RedisAclUsers().process(["#present", "conf:default off", "live:default on"])
    assert default_user_state(mixed) == "on"
    old = RedisAclUsers().process(["#present", "#requirepass", "#live-error:WRONGPASS invalid"])
    assert old["requirepass"] and old["live_error"].startswith("WRONGPASS")


def test_fact_command_prints_only_names_and_states() -> None:
    command = RedisAclUsers().command().get_raw_value()
    assert 'print "live:" $2 " " $3' in command and 'print "conf:" $2 " " s' in command
    assert "-a " not in command and 'export REDISCLI_AUTH="$a"' in command


def test_default_passwords_check_fails_while_default_user_is_on() -> None:
    check = registry()["secrets.default_passwords"]
    on = context({RedisAuthState: AUTH, RedisAclUsers: RedisAclUsers().process(FRESH)})
    outcome = check(on)
    assert outcome.status is Status.FAIL and "ACL default user is on" in outcome.evidence
    off = check(context({RedisAuthState: AUTH, RedisAclUsers: RedisAclUsers().process(DONE)}))
    assert off.status is Status.PASS and "ACL default user is off (live)" in off.evidence


def test_script_verifies_admin_before_writing_and_disabling_default() -> None:
    script = redis_ops.admin_acl_script("/etc/redis/redis.conf", redis_ops.SECRETS_CONF, True)
    create = script.index("ACL SETUSER admin on >%s")
    verify = script.index("the admin user does not log in")
    write = script.index('mv -f "$tmp" /etc/redis/hardening-auth.conf')
    disable = script.index("ACL SETUSER default off resetpass")
    assert create < verify < write < disable
    assert "exit 1" in script[verify:write]  # a failed verification stops before any change
    assert 'REDISCLI_AUTH="$pw"' in script and "redis-cli -a" not in script
    assert script.count("printf") == 5  # builtins carry the password, never argv of a program
    include = script.index("include /etc/redis/hardening-auth.conf")
    assert write < include < disable < script.index("systemctl restart")  # include first
    assert 'ACL WHOAMI 2>/dev/null)" = admin ]' in script  # PING would pass as `default`
    stopped = redis_ops.admin_acl_script("/etc/redis/redis.conf", redis_ops.SECRETS_CONF, False)
    assert "ACL SETUSER" not in stopped and "user default off" in stopped


def test_operation_is_a_noop_when_done_and_never_restarts_a_running_redis() -> None:
    done = FakeHost(
        RedisConfig=_fact(), RedisAclUsers=RedisAclUsers().process(DONE), FindInFile=["x"], **UNITS
    )
    assert commands(redis_ops.require_password, done) == []
    fresh = FakeHost(RedisConfig=_fact(), RedisAclUsers=RedisAclUsers().process(FRESH), **UNITS)
    steps = [text(c) for c in commands(redis_ops.require_password, fresh)]
    assert len(steps) == 1 and "ACL SETUSER admin" in steps[0]  # include inside; no restart


def test_tooling_logs_in_as_admin_through_the_environment() -> None:
    reload = redis_reload("/c", "/k", 6380)
    assert reload.startswith(admin_auth_shell()) and "--user admin" in reload
    apply = redis_ops._runtime_apply("maxmemory 1\n", "redis-server")
    assert "--user admin" in apply and "requirepass" not in apply
    assert "AUTH admin secret" in _rotation_stdin()
    assert "-h 127.0.0.1 -p" in redis_target_shell() and "--tls --cacert" in redis_target_shell()


def _rotation_stdin() -> str:
    seen: list[str] = []

    class Runner:
        def run(self, command: str, stdin: str | None = None) -> tuple[bool, str]:
            seen.append(stdin or "")
            return True, "OK\nOK"

    RedisAcl("secret")._set(Runner(), ["app-pw"], "test")
    return seen[0]
