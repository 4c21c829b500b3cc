"""Redis on real hosts: a fresh Debian Redis has no memory limit and no eviction policy;
deploys/redis.py sets bind, protected-mode, maxmemory (25 % of the host's memory), the
eviction policy and persistence; a rerun changes nothing; a runtime value is applied with
CONFIG SET (same process), a bind change restarts Redis onto the new address, and a bad
policy is refused before anything reaches the host."""

from __future__ import annotations

import json

import pytest

from hardening.checks.redis import redis_problems
from hardening.facts.redis import RedisConfig
from tests.integration.harden_helpers import pyinfra_changes


def _fact(bed, host: str = "tb1") -> dict:
    """``RedisConfig`` gathered on the host (its real command, its parser)."""
    command = RedisConfig().command().get_raw_value()
    return RedisConfig().process(bed.run(host, command).splitlines())


def _pid(bed) -> str:
    return bed.run("tb1", "redis-cli INFO server | sed -n 's/^process_id://p'").strip()


@pytest.fixture(scope="module")
def bed(module_bed):
    return module_bed


def test_fresh_redis_fails(bed) -> None:
    fact = _fact(bed)
    problems, _ = redis_problems(fact, {})
    assert fact["active"] and fact["maxmemory"] == 0, fact
    assert "no maxmemory: Redis grows until the host runs out of memory" in problems
    assert "maxmemory-policy noeviction, declared allkeys-lru" in problems


def test_deploy_passes_rerun_changes_nothing(bed) -> None:
    first = bed.pyinfra("deploys/redis.py")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert pyinfra_changes(first) > 0
    for host in ("tb1", "tb2"):
        fact = _fact(bed, host)
        problems, evidence = redis_problems(fact, {})
        assert problems == [], (host, problems, evidence)
        assert fact["maxmemory"] == fact["mem_total"] * 25 // 100 // 2**20 * 2**20
    assert bed.run("tb1", "redis-cli CONFIG GET maxmemory-policy").split() == [
        "maxmemory-policy",
        "allkeys-lru",
    ]
    mode = bed.run("tb1", "stat -c '%a %U' /etc/redis/hardening-redis.conf").strip()
    assert mode == "640 redis"
    second = bed.pyinfra("deploys/redis.py")
    assert second.returncode == 0 and pyinfra_changes(second) == 0, second.stdout[-3000:]


def test_runtime_change_without_restart_bind_change_restarts(bed) -> None:
    pid = _pid(bed)
    lfu = bed.pyinfra(
        "deploys/redis.py", "--limit", "tb1", "--data", "redis_maxmemory_policy=allkeys-lfu"
    )
    assert lfu.returncode == 0, lfu.stdout[-3000:]
    assert _pid(bed) == pid  # CONFIG SET, no restart
    assert "allkeys-lfu" in bed.run("tb1", "redis-cli CONFIG GET maxmemory-policy")
    address = bed.hosts[0].address
    bind = json.dumps(["127.0.0.1", address])
    moved = bed.pyinfra("deploys/redis.py", "--limit", "tb1", "--data", f"redis_bind={bind}")
    assert moved.returncode == 0, moved.stdout[-3000:]
    assert _pid(bed) != pid
    fact = _fact(bed)
    assert sorted(fact["listening"]) == sorted(["127.0.0.1:6379", f"{address}:6379"])
    problems, _ = redis_problems(fact, {"redis_bind": ["127.0.0.1", address]})
    assert problems == [], problems


def test_bad_policy_is_refused_before_the_host(bed) -> None:
    before = bed.run("tb1", "sha1sum /etc/redis/hardening-redis.conf")
    bad = bed.pyinfra(
        "deploys/redis.py", "--limit", "tb1", "--data", "redis_maxmemory_policy=evict-everything"
    )
    assert bad.returncode != 0
    assert "redis_maxmemory_policy must be one of" in bad.stdout + bad.stderr
    assert bed.run("tb1", "sha1sum /etc/redis/hardening-redis.conf") == before
