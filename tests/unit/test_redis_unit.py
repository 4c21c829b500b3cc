"""Redis hardening: the include file, its validation, the memory limit, the runtime apply
command, the operation's commands on a fake host (CONFIG SET or restart), the ``RedisConfig``
parser on captured output and the judgment on canned facts."""

from __future__ import annotations

import pytest

from hardening.checks.redis import redis_problems
from hardening.facts.redis import RedisConfig, memory_bytes
from hardening.operations import redis as redis_ops
from hardening.operations._render import sha1
from hardening.operations.redis import (
    _runtime_apply,
    maxmemory_for,
    render_settings,
    validate_settings,
)
from tests.unit.test_monitoring_operations import FakeHost, commands, text

GIB = 2**30
#: ``RedisConfig`` output of a fresh Debian 12 host (captured on the testbed).
FRESH = [
    "#active=active",
    "conf:bind 127.0.0.1 -::1",
    "conf:protected-mode yes",
    "conf:appendonly no",
    "#mem=25276502016",
    "#listen=127.0.0.1:6379",
    "#listen=[::1]:6379",
]


def test_include_file_renders_the_declared_values() -> None:
    text = render_settings(["127.0.0.1", "-::1"], 6 * GIB, "allkeys-lru", "3600 1  300 100")
    assert "bind 127.0.0.1 -::1\n" in text and "protected-mode yes\n" in text
    assert f"maxmemory {6 * GIB}\n" in text and "maxmemory-policy allkeys-lru\n" in text
    assert 'save "3600 1 300 100"\n' in text and text.endswith("appendonly no\n")
    assert 'save ""' in render_settings(["127.0.0.1"], GIB, save="", appendonly=True)


@pytest.mark.parametrize(
    ("bind", "policy", "save", "message"),
    [
        (["127.0.0.1"], "evict-all", "", "redis_maxmemory_policy must be one of"),
        (["127.0.0.1"], "allkeys-lru", "3600", "redis_save must be"),
        (["127.0.0.1"], "allkeys-lru", "1h 1", "redis_save must be"),
        ([], "allkeys-lru", "", "redis_bind must list"),
        (["127.0.0.1 0.0.0.0"], "allkeys-lru", "", "redis_bind must list"),
    ],
)
def test_bad_values_are_refused(bind: list[str], policy: str, save: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_settings(bind, policy, save)


def test_maxmemory_is_a_share_of_the_host_in_whole_mib() -> None:
    assert maxmemory_for(16 * GIB, 25) == 4 * GIB
    assert maxmemory_for(25276502016, 25) % 2**20 == 0
    assert maxmemory_for(None, 25) == 64 * 2**20
    with pytest.raises(ValueError, match="1-90"):
        maxmemory_for(16 * GIB, 95)


def test_runtime_apply_authenticates_through_the_environment() -> None:
    command = _runtime_apply(render_settings(["127.0.0.1"], GIB), "redis-server")
    assert 'export REDISCLI_AUTH="$a"' in command and "-a " not in command
    assert "CONFIG SET protected-mode yes maxmemory 1073741824 maxmemory-policy allkeys-lru" in (
        command
    )
    assert 'save "3600 1 300 100 60 10000" appendonly no' in command
    assert command.endswith("|| systemctl restart redis-server")
    assert "bind" not in command.split("CONFIG SET", 1)[1]  # bind needs a restart


def test_parser_on_a_fresh_host_and_after_the_deploy() -> None:
    fresh = RedisConfig().process(FRESH)
    assert fresh["bind"] == ["127.0.0.1", "-::1"] and fresh["maxmemory"] == 0
    assert fresh["maxmemory_policy"] == "noeviction" and fresh["save"] == "3600 1 300 100 60 10000"
    problems, evidence = redis_problems(fresh, {})
    assert "no maxmemory: Redis grows until the host runs out of memory" in problems
    assert "maxmemory-policy noeviction, declared allkeys-lru" in problems
    assert evidence[0] == "listening on 127.0.0.1, ::1"
    text = render_settings(["127.0.0.1", "-::1"], 6 * GIB)
    done = RedisConfig().process(FRESH + [f"conf:{line}" for line in text.splitlines()[2:]])
    problems, evidence = redis_problems(done, {})
    assert done["maxmemory"] == 6 * GIB and problems == []
    assert "maxmemory 6144 MiB, policy allkeys-lru" in evidence
    assert RedisConfig().process(["#absent"]) == {"installed": False}


def test_undeclared_interface_protected_mode_and_persistence_fail() -> None:
    fact = RedisConfig().process(
        [
            *FRESH,
            "#listen=0.0.0.0:6379",
            "conf:protected-mode no",
            "conf:maxmemory 2gb",
            "conf:maxmemory-policy allkeys-lru",
            'conf:save ""',
        ]
    )
    problems, _ = redis_problems(fact, {"redis_appendonly": True})
    assert fact["maxmemory"] == 2 * GIB
    assert problems == [
        "listens on undeclared interfaces: 0.0.0.0",
        "protected-mode is off",
        "save '', declared '3600 1 300 100 60 10000'",
        "appendonly differs from redis_appendonly",
    ]
    assert redis_problems({"installed": False}, {}) == ([], ["Redis is not installed"])


def test_memory_notation() -> None:
    assert memory_bytes("100mb") == 100 * 2**20 and memory_bytes("1g") == 10**9
    assert memory_bytes("12345") == 12345


def _fact(bind: list[str] | None = None) -> dict:
    fact = RedisConfig().process(FRESH)
    return fact | {"bind": bind or fact["bind"]}


def _done(**facts: object) -> list[str]:
    fake = FakeHost(RedisConfig=_fact(), **facts)
    return [text(c) for c in commands(redis_ops.server_settings, fake)]


def test_current_file_is_a_noop() -> None:
    content = render_settings(["127.0.0.1", "-::1"], maxmemory_for(25276502016, 25))
    assert _done(Sha1File=sha1(content), FindInFile=["include x"]) == []


def test_new_include_restarts_with_rollback() -> None:
    done = _done()
    assert "cp -a /etc/redis/hardening-redis.conf" in done[0]
    assert (
        done[1]
        == "printf '\\n%s\\n' 'include /etc/redis/hardening-redis.conf' >> /etc/redis/redis.conf"
    )
    assert done[2].startswith("systemctl restart redis-server; sleep 1;")
    assert "mv /etc/redis/hardening-redis.conf.previous" in done[2]


def test_runtime_values_use_config_set_and_bind_restarts() -> None:
    changed = _done(FindInFile=["include x"])
    assert "CONFIG SET" in changed[-1] and not changed[-1].startswith("systemctl restart")
    fake = FakeHost(RedisConfig=_fact(["0.0.0.0"]), FindInFile=["include x"])
    moved = [text(c) for c in commands(redis_ops.server_settings, fake)]
    assert moved[-1].startswith("systemctl restart redis-server;")
    missing = FakeHost(RedisConfig={"installed": False})
    assert commands(redis_ops.server_settings, missing) == []
