"""Fact parsers on captured command output (no host needed)."""

from __future__ import annotations

from hardening.facts.envfile import EnvFileSummary
from hardening.facts.host import Virtualization
from hardening.facts.network import ListeningSockets, is_loopback
from hardening.facts.pgbouncer import PgbouncerConfig
from hardening.facts.postgres import PostgresDefaultLogins, PostgresHbaRules
from hardening.facts.redis import RedisAuthState

SS_OUTPUT = """\
udp   UNCONN 0      0          127.0.0.1:323        0.0.0.0:*    users:(("chronyd",pid=80,fd=5))
tcp   LISTEN 0      128          0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=51,fd=3))
tcp   LISTEN 0      244        127.0.0.1:5432       0.0.0.0:*    users:(("postgres",pid=99,fd=6))
tcp   LISTEN 0      511             [::]:80            [::]:*    users:(("nginx",pid=7,fd=7))
tcp   LISTEN 0      4096               *:9100             *:*    users:(("prometheus-node",pid=3,fd=3))
tcp   LISTEN 0      4096   127.0.0.53%lo:53         0.0.0.0:*
"""


def test_listening_sockets() -> None:
    sockets = ListeningSockets().process(SS_OUTPUT.splitlines())
    assert {"proto": "tcp", "address": "0.0.0.0", "port": 22, "process": "sshd"} in sockets
    assert {"proto": "tcp", "address": "::", "port": 80, "process": "nginx"} in sockets
    assert {"proto": "tcp", "address": "*", "port": 9100, "process": "prometheus-node"} in sockets
    assert {"proto": "tcp", "address": "127.0.0.53", "port": 53, "process": ""} in sockets
    assert is_loopback("127.0.0.53") and is_loopback("::1") and not is_loopback("::")


def test_postgres_hba_rules_and_states() -> None:
    fact = PostgresHbaRules().process(
        ["118|local|all|postgres|||peer", "125|host|all|all|127.0.0.1|255.255.255.255|trust"]
    )
    assert fact["running"] and fact["rules"][1]["method"] == "trust"
    assert PostgresHbaRules().process(["#down"]) == {
        "installed": True,
        "running": False,
        "rules": [],
    }
    assert PostgresHbaRules().process(["#absent"])["installed"] is False


def test_postgres_default_logins() -> None:
    fact = PostgresDefaultLogins().process(["accepted:postgres/postgres"])
    assert fact == {"installed": True, "listening": True, "accepted": ["postgres/postgres"]}
    command = PostgresDefaultLogins().command(port=5433).get_raw_value()
    assert "-p 5433" in command and "PGPASSWORD=postgres" in command


def test_redis_auth_state() -> None:
    open_redis = RedisAuthState().process(
        ["ping:PONG", "foobared:PONG", "redis:PONG", "password:PONG"]
    )
    assert open_redis["open_without_auth"] and open_redis["accepted_default_passwords"] == []
    foobared = RedisAuthState().process(
        ["ping:NOAUTH Authentication required.", "foobared:PONG", "redis:WRONGPASS", "password:x"]
    )
    assert not foobared["open_without_auth"] and foobared["accepted_default_passwords"] == [
        "foobared"
    ]
    assert RedisAuthState().process(["#absent"])["installed"] is False


def test_pgbouncer_config_masks_passwords() -> None:
    fact = PgbouncerConfig().process(
        [
            "#active:active",
            "[databases]",
            "app = host=10.0.0.5 port=5432 password=hunter2hunter2",
            ";; comment",
            "[pgbouncer]",
            "listen_port = 6432",
            "pool_mode = transaction",
        ]
    )
    assert fact["active"] and fact["config"]["pgbouncer"]["pool_mode"] == "transaction"
    assert "hunter2" not in str(fact) and "password=***" in fact["config"]["databases"]["app"]


def test_envfile_summary_and_virtualization() -> None:
    assert EnvFileSummary().process(["#absent"]) is None
    assert EnvFileSummary().process(['{"A": {"length": 3}}']) == {"A": {"length": 3}}
    assert Virtualization().process(["container:lxc", "vm:none"]) == {
        "container": "lxc",
        "vm": "none",
    }
