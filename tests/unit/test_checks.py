"""Checks judged on canned facts (the integration tests judge real hosts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hardening.audit import evaluate_host
from hardening.catalog import CATALOG
from hardening.checks import HostContext, registry
from hardening.facts.envfile import EnvFileSummary
from hardening.facts.network import ListeningSockets
from hardening.facts.nftables import NftablesRuleset
from hardening.facts.pgbouncer import PgbouncerConfig
from hardening.facts.postgres import PostgresDefaultLogins, PostgresHbaRules
from hardening.facts.redis import RedisAuthState
from hardening.results import Status

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CHECKS = registry()


def nft(name: str) -> dict:
    return NftablesRuleset().process((FIXTURES / f"{name}.json").read_text().splitlines())


def context(facts: dict[type, Any], groups=("web",), **data: Any) -> HostContext:
    calls: list = []

    def getter(fact_class: type, **kwargs: Any) -> Any:
        calls.append(fact_class)
        value = facts.get(fact_class, fact_class.default() if callable(fact_class.default) else {})
        return value(kwargs) if callable(value) and not isinstance(value, type) else value

    ctx = HostContext("h1", tuple(groups), data, getter)
    ctx.calls = calls  # type: ignore[attr-defined]
    return ctx


SOCKETS = [
    {"proto": "tcp", "address": "0.0.0.0", "port": 22, "process": "sshd"},
    {"proto": "tcp", "address": "0.0.0.0", "port": 80, "process": "nginx"},
    {"proto": "tcp", "address": "*", "port": 9100, "process": "node_exporter"},
    {"proto": "tcp", "address": "127.0.0.1", "port": 5432, "process": "postgres"},
]


def test_firewall_fails_without_filtering() -> None:
    outcome = CHECKS["firewall.only_necessary_ports"](
        context({NftablesRuleset: nft("nft_empty"), ListeningSockets: SOCKETS})
    )
    assert outcome.status is Status.FAIL
    assert "9100/tcp (node_exporter)" in outcome.evidence
    assert "no default-deny" in outcome.evidence and outcome.fix


def test_firewall_passes_when_extra_listener_is_blocked() -> None:
    outcome = CHECKS["firewall.only_necessary_ports"](
        context({NftablesRuleset: nft("nft_hardened"), ListeningSockets: SOCKETS})
    )
    assert outcome.status is Status.PASS, outcome.evidence
    assert "9100/tcp (node_exporter) blocked" in outcome.evidence


def test_firewall_fails_when_default_deny_but_undeclared_port_open() -> None:
    sockets = [*SOCKETS, {"proto": "tcp", "address": "0.0.0.0", "port": 8050, "process": "app"}]
    outcome = CHECKS["firewall.only_necessary_ports"](
        context({NftablesRuleset: nft("nft_mixed"), ListeningSockets: sockets}, groups=("web",))
    )
    assert outcome.status is Status.FAIL and "8050/tcp (app)" in outcome.evidence


FRESH_PG = {
    PostgresDefaultLogins: {
        "installed": True,
        "listening": True,
        "accepted": ["postgres/postgres"],
    },
    PostgresHbaRules: {
        "installed": True,
        "running": True,
        "rules": [
            {
                "line": 1,
                "type": "host",
                "database": "all",
                "user": "all",
                "address": "127.0.0.1",
                "netmask": "",
                "method": "trust",
            },
        ],
    },
    RedisAuthState: {
        "installed": True,
        "reachable": True,
        "open_without_auth": True,
        "accepted_default_passwords": [],
    },
}


def test_default_passwords_fail_and_pass() -> None:
    outcome = CHECKS["secrets.default_passwords"](context(FRESH_PG))
    assert outcome.status is Status.FAIL
    assert "postgres/postgres" in outcome.evidence and "trusts host" in outcome.evidence
    assert "Redis answers without AUTH" in outcome.evidence
    hardened = {
        PostgresDefaultLogins: {"installed": True, "listening": True, "accepted": []},
        PostgresHbaRules: {"installed": True, "running": True, "rules": []},
        RedisAuthState: {
            "installed": True,
            "reachable": True,
            "open_without_auth": False,
            "accepted_default_passwords": [],
        },
    }
    assert CHECKS["secrets.default_passwords"](context(hardened)).status is Status.PASS


def test_default_passwords_not_applicable_without_services() -> None:
    outcome = CHECKS["secrets.default_passwords"](context({}))
    assert outcome.status is Status.NOT_APPLICABLE


def test_jwt_strength() -> None:
    weak = {
        EnvFileSummary: {
            "JWT_SECRET": {"length": 6, "alnum": True, "alnum_count": 6, "placeholder": True}
        }
    }
    outcome = CHECKS["secrets.jwt_secret_strength"](context(weak, app_env_file="/etc/app/env"))
    assert outcome.status is Status.FAIL and "placeholder" in outcome.evidence
    strong = {
        EnvFileSummary: {
            "JWT_SECRET": {"length": 48, "alnum": True, "alnum_count": 48, "placeholder": False}
        }
    }
    outcome = CHECKS["secrets.jwt_secret_strength"](context(strong, app_env_file="/etc/app/env"))
    assert outcome.status is Status.PASS
    assert CHECKS["secrets.jwt_secret_strength"](context({})).status is Status.NOT_APPLICABLE


BOUNCER = {
    PgbouncerConfig: {
        "installed": True,
        "active": True,
        "config": {
            "pgbouncer": {"listen_port": "6432", "pool_mode": "transaction"},
            "databases": {"*": "host=127.0.0.1 port=5432"},
        },
    },
    ListeningSockets: [
        {"proto": "tcp", "address": "127.0.0.1", "port": 6432, "process": "pgbouncer"}
    ],
}


def test_pooling_pass_and_dsn_bypassing_the_pool() -> None:
    assert (
        CHECKS["postgres.pooling"](context(BOUNCER, groups=("db_primary",))).status is Status.PASS
    )
    bypass = {**BOUNCER, EnvFileSummary: {"DATABASE_URL": {"url": {"host": "db", "port": 5432}}}}
    outcome = CHECKS["postgres.pooling"](
        context(bypass, groups=("db_primary",), app_env_file="/etc/app/env")
    )
    assert outcome.status is Status.FAIL and "not pgBouncer's 6432" in outcome.evidence


def test_pooling_fails_on_default_debian_config() -> None:
    fresh = {
        PgbouncerConfig: {
            "installed": True,
            "active": True,
            "config": {"pgbouncer": {"listen_port": "6432"}, "databases": {}},
        },
        ListeningSockets: BOUNCER[ListeningSockets],
    }
    outcome = CHECKS["postgres.pooling"](context(fresh, groups=("db_primary",)))
    assert outcome.status is Status.FAIL and "no [databases]" in outcome.evidence


def test_evaluate_host_accounts_for_every_item_and_shares_facts(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HARDENING_ATTESTATIONS", str(tmp_path))  # an empty ledger
    ctx = context(
        {**FRESH_PG, NftablesRuleset: nft("nft_empty"), ListeningSockets: SOCKETS},
        groups=("web", "cache"),
    )
    results = evaluate_host(ctx, CATALOG, CHECKS)
    assert [r.item_id for r in results] == [item.id for item in CATALOG]
    statuses = {r.item_id: r.status for r in results}
    assert statuses["SEC-04"] is Status.FAIL
    assert statuses["DB-04"] is Status.NOT_APPLICABLE  # a check exists, host not in db groups
    assert statuses["TEAM-01"] is Status.PENDING  # attest.signed: no record in the ledger
    assert all(r.evidence for r in results)


def test_broken_check_becomes_a_failed_result_not_a_crash() -> None:
    def broken(ctx: HostContext):
        raise RuntimeError("boom")

    results = evaluate_host(context({}), CATALOG[:1], {CATALOG[0].check: broken})
    assert results[0].status is Status.FAIL and "RuntimeError: boom" in results[0].evidence
