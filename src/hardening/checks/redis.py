"""Redis hardening judged from ``RedisConfig``: declared interfaces really listened on,
protected-mode, a memory limit with an eviction policy, persistence as declared.

PERF-08 "Enable caching strategies" (``caching.strategies`` in checks/web.py) is judged on
both tiers that cache: nginx's caches on web hosts, and here, on cache hosts, Redis with a
memory limit and an eviction policy (a cache that cannot evict fails writes or takes the
host's memory).
"""

from __future__ import annotations

from typing import Any

from hardening.checks import HostContext
from hardening.facts.redis import RedisConfig
from hardening.results import Outcome
from hardening.settings import default

REDIS_FIX = "run deploys/redis.py (memory limit, eviction policy, interfaces, persistence)"


def _setting(data: dict[str, Any], key: str) -> Any:
    value = data.get(key)
    return default(key) if value is None else value


def _host_part(address: str) -> str:
    """``127.0.0.1:6379`` -> ``127.0.0.1``; ``[::1]:6379`` -> ``::1``."""
    return address.rsplit(":", 1)[0].strip("[]")


def redis_problems(fact: dict, data: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Problems and evidence of a host's Redis against the inventory's ``redis_*`` settings."""
    if not fact.get("installed"):
        return [], ["Redis is not installed"]
    declared = [a.lstrip("-") for a in _setting(data, "redis_bind")]
    listening = sorted({_host_part(a) for a in fact["listening"]})
    policy = _setting(data, "redis_maxmemory_policy")
    evidence = [
        f"listening on {', '.join(listening) or 'nothing'}",
        f"maxmemory {fact['maxmemory'] // 2**20} MiB, policy {fact['maxmemory_policy']}",
        f"save '{fact['save']}', appendonly {'yes' if fact['appendonly'] else 'no'}",
    ]
    problems = []
    if not fact["active"]:
        problems.append("redis-server is not running")
    extra = [a for a in listening if a not in declared]
    if extra:
        problems.append(f"listens on undeclared interfaces: {', '.join(extra)}")
    if not fact["protected_mode"]:
        problems.append("protected-mode is off")
    if not fact["maxmemory"]:
        problems.append("no maxmemory: Redis grows until the host runs out of memory")
    if fact["maxmemory_policy"] != policy:
        problems.append(f"maxmemory-policy {fact['maxmemory_policy']}, declared {policy}")
    save = " ".join(_setting(data, "redis_save").split())
    if fact["save"] != save:
        problems.append(f"save '{fact['save']}', declared '{save}'")
    if fact["appendonly"] != bool(_setting(data, "redis_appendonly")):
        problems.append("appendonly differs from redis_appendonly")
    return problems, evidence


def redis_caching(ctx: HostContext) -> Outcome:
    """Redis on a cache host: memory limit, eviction policy, interfaces, persistence."""
    problems, evidence = redis_problems(ctx.fact(RedisConfig), ctx.data)
    return Outcome.judge(problems, evidence, fix=REDIS_FIX)
