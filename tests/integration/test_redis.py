"""Redis on real hosts: a fresh Debian Redis lets anyone in as the ``default`` user and has no
memory limit and no eviction policy; deploys/redis.py switches ``default`` off, creates the
``admin`` user our tooling logs in as (password generated on the host), sets bind,
protected-mode, maxmemory (25 % of the host's memory), the eviction policy and persistence; a
rerun changes nothing; a host hardened with the old ``requirepass`` moves to the admin user
at runtime (same process) and keeps its default user when the admin user cannot be verified;
a runtime value is applied with CONFIG SET (same process), a bind change restarts Redis onto
the new address, a bad policy is refused before anything reaches the host, and no password
is in any output or in ``ps``."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from hardening.checks.redis import redis_problems
from hardening.facts.redis import ADMIN_CLI, RedisAclUsers, RedisConfig, admin_auth_shell
from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes, statuses

ACL_CONF = "/etc/redis/hardening-auth.conf"
#: Every ``ps -eo args`` on tb1 every 0.2 s while it runs (started before the first deploy).
PS_LOG = "/root/redis-ps.log"


def _fact(bed, host: str = "tb1", fact=RedisConfig) -> dict:
    """A fact gathered on the host (its real command, its parser)."""
    command = fact().command().get_raw_value()
    return fact().process(bed.run(host, command).splitlines())


def _admin(bed, command: str, host: str = "tb1") -> str:
    """redis-cli as the admin user (host-generated password through the environment)."""
    return bed.run(host, f"{admin_auth_shell()} {ADMIN_CLI} {command}").strip()


def _pid(bed, host: str = "tb1") -> str:
    return bed.run(host, "systemctl show -p MainPID --value redis-server").strip()


def _unauthenticated(bed, host: str, password: str = "") -> str:
    auth = f"REDISCLI_AUTH={shlex.quote(password)} " if password else ""
    return bed.ssh(host, f"{auth}redis-cli --no-auth-warning PING 2>&1").stdout.strip()


@pytest.fixture(scope="module")
def bed(module_bed):
    module_bed.outputs = []  # every captured output, grepped for passwords at the end
    return module_bed


def _pyinfra(bed, *args: str):
    done = bed.pyinfra(*args)
    bed.outputs.append(done.stdout + done.stderr)
    return done


def test_fresh_redis_fails(bed, tmp_path: Path) -> None:
    fact = _fact(bed)
    problems, _ = redis_problems(fact, {})
    assert fact["active"] and fact["maxmemory"] == 0, fact
    assert "no maxmemory: Redis grows until the host runs out of memory" in problems
    assert "maxmemory-policy noeviction, declared allkeys-lru" in problems
    assert _fact(bed, "tb1", RedisAclUsers)["configured"] == {}  # default: on, no password
    _, report = audit_json(bed, tmp_path, "--limit", "tb1")
    assert statuses(report)[("tb1", "SEC-01")] == "fail"
    assert "ACL default user is on" in evidence(report, "tb1", "SEC-01")


def test_requirepass_host_moves_to_admin_at_runtime_only_after_verifying(bed) -> None:
    """tb2 as the previous version left it (``requirepass``); first with a file that does not
    match the running password: the admin user cannot be created, nothing changes. Then tb2
    and the fresh tb1 (``default`` without a password) move at runtime."""
    old = bed.run("tb2", "head -c 30 /dev/urandom | base64 | tr -dc A-Za-z0-9").strip()
    bed.run(
        "tb2",
        f"printf 'requirepass wrong{old}\\n' > {ACL_CONF} && chown redis:redis {ACL_CONF}"
        f" && chmod 0640 {ACL_CONF} && printf '\\ninclude {ACL_CONF}\\n' >> /etc/redis/redis.conf"
        f" && printf 'CONFIG SET requirepass {old}\\n' | redis-cli >/dev/null",
    )
    pid = _pid(bed, "tb2")
    refused = _pyinfra(bed, "deploys/secrets.py", "--limit", "tb2")
    assert refused.returncode != 0
    assert "the admin user does not log in" in refused.stdout + refused.stderr
    assert _unauthenticated(bed, "tb2", old) == "PONG"  # default left as it was
    assert bed.run("tb2", f"cat {ACL_CONF}").strip() == f"requirepass wrong{old}"
    bed.run("tb2", f"sed -i 's/wrong//' {ACL_CONF}")
    fresh_pid = _pid(bed, "tb1")  # tb1 is fresh: default on without a password
    moved = _pyinfra(bed, "deploys/secrets.py")
    assert moved.returncode == 0, moved.stdout[-3000:] + moved.stderr[-3000:]
    assert (_pid(bed, "tb2"), _pid(bed, "tb1")) == (pid, fresh_pid)  # ACL SETUSER, no restart
    assert "NOAUTH" in _unauthenticated(bed, "tb1") and _admin(bed, "ACL WHOAMI") == "admin"
    assert "WRONGPASS" in _unauthenticated(bed, "tb2", old)
    assert "NOAUTH" in _unauthenticated(bed, "tb2")
    assert _admin(bed, "ACL WHOAMI", "tb2") == "admin"
    acl = _fact(bed, "tb2", RedisAclUsers)
    assert acl["live"]["default"] == "off" and acl["live"]["admin"] == "on", acl
    assert not acl["requirepass"]
    assert _admin(bed, "CONFIG GET requirepass", "tb2").split() == ["requirepass"]  # cleared


def test_deploy_passes_rerun_changes_nothing(bed, tmp_path: Path) -> None:
    bed.run(
        "tb1",
        f"nohup sh -c 'for i in $(seq 900); do ps -eo args; sleep 0.2; done' > {PS_LOG} 2>&1 < /dev/null &",
    )
    first = _pyinfra(bed, "deploys/redis.py")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert pyinfra_changes(first) > 0
    for host in ("tb1", "tb2"):
        fact = _fact(bed, host)
        problems, evidence_ = redis_problems(fact, {})
        assert problems == [], (host, problems, evidence_)
        assert fact["maxmemory"] == fact["mem_total"] * 25 // 100 // 2**20 * 2**20
        assert "NOAUTH" in _unauthenticated(bed, host)
        assert "WRONGPASS" in _unauthenticated(bed, host, "foobared")
        assert _admin(bed, "ACL WHOAMI", host) == "admin"
    assert _admin(bed, "CONFIG GET maxmemory-policy").split() == [
        "maxmemory-policy",
        "allkeys-lru",
    ]
    mode = bed.run("tb1", f"stat -c '%a %U' /etc/redis/hardening-redis.conf {ACL_CONF}")
    assert mode.split() == ["640", "redis", "640", "redis"]
    _, report = audit_json(bed, tmp_path)
    for host in ("tb1", "tb2"):
        assert statuses(report)[(host, "SEC-01")] == "pass", evidence(report, host, "SEC-01")
        assert "ACL default user is off (live)" in evidence(report, host, "SEC-01")
    bed.outputs.append(json.dumps(report))
    second = _pyinfra(bed, "deploys/redis.py")
    assert second.returncode == 0 and pyinfra_changes(second) == 0, second.stdout[-3000:]


def test_runtime_change_without_restart_bind_change_restarts(bed) -> None:
    pid = _pid(bed)
    lfu = _pyinfra(
        bed, "deploys/redis.py", "--limit", "tb1", "--data", "redis_maxmemory_policy=allkeys-lfu"
    )
    assert lfu.returncode == 0, lfu.stdout[-3000:]
    assert _pid(bed) == pid  # CONFIG SET as the admin user, no restart
    assert "allkeys-lfu" in _admin(bed, "CONFIG GET maxmemory-policy")
    address = bed.hosts[0].address
    bind = json.dumps(["127.0.0.1", address])
    moved = _pyinfra(bed, "deploys/redis.py", "--limit", "tb1", "--data", f"redis_bind={bind}")
    assert moved.returncode == 0, moved.stdout[-3000:]
    assert _pid(bed) != pid
    fact = _fact(bed)
    assert sorted(fact["listening"]) == sorted(["127.0.0.1:6379", f"{address}:6379"])
    problems, _ = redis_problems(fact, {"redis_bind": ["127.0.0.1", address]})
    assert problems == [], problems
    assert _fact(bed, "tb1", RedisAclUsers)["live"]["default"] == "off"  # after the restart


def test_bad_policy_is_refused_before_the_host(bed) -> None:
    before = bed.run("tb1", "sha1sum /etc/redis/hardening-redis.conf")
    bad = _pyinfra(
        bed,
        "deploys/redis.py",
        "--limit",
        "tb1",
        "--data",
        "redis_maxmemory_policy=evict-everything",
    )
    assert bad.returncode != 0
    assert "redis_maxmemory_policy must be one of" in bad.stdout + bad.stderr
    assert bed.run("tb1", "sha1sum /etc/redis/hardening-redis.conf") == before


def test_no_admin_password_in_any_output_or_ps(bed) -> None:
    outputs = list(bed.outputs)
    outputs.append(_pyinfra(bed, "deploys/redis.py", "-vvv", "--diff").stdout)
    outputs.append(bed.run("tb1", f"cat {PS_LOG}; journalctl --no-pager -o cat; true"))
    for host in ("tb1", "tb2"):
        password = bed.run(host, "sed -n 's/^user admin on >\\([^ ]*\\) .*/\\1/p' " + ACL_CONF)
        assert len(password.strip()) == 40
        for text in outputs:
            assert password.strip() not in text
