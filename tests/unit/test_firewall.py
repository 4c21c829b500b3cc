"""Firewall source restrictions and host-level DDoS protection (SEC-04, SEC-07) without hosts.

The fixture ``nft_restricted_limited.json`` is ``nft -j list ruleset`` of a testbed host
(nft 1.0.6) hardened by deploys/firewall.py: web + db_primary + cache + monitoring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyinfra.facts.server import Sysctl

from hardening.checks import HostContext, registry
from hardening.facts.host import Virtualization
from hardening.facts.network import ListeningSockets
from hardening.facts.nftables import NftablesRuleset
from hardening.firewall_policy import (
    DDOS_SYSCTLS,
    ddos_sysctls,
    firewall_policy,
    must_be_restricted,
    public_ports,
    split_families,
)
from hardening.nft import BLOCKED, OPEN, RESTRICTED, port_reachability, rate_limited_ports
from hardening.operations.firewall import render_ruleset
from hardening.results import Status
from hardening.settings import validate_host_data

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CHECKS = registry()
ALL_GROUPS = ("web", "db_primary", "cache", "monitoring")
ADDRESSES = {
    "web": ["10.0.1.10", "10.0.1.11"],
    "db_primary": ["10.0.2.10"],
    "db_replica": ["10.0.2.11"],
    "monitoring": ["10.0.9.9"],
}


def hardened() -> dict:
    text = (FIXTURES / "nft_restricted_limited.json").read_text()
    return NftablesRuleset().process(text.splitlines())


def addresses_of(group: str) -> list[str]:
    return ADDRESSES.get(group, [])


def context(facts: dict[type, Any], groups: tuple[str, ...] = ALL_GROUPS, **data) -> HostContext:
    def getter(fact_class: type, **kwargs: Any) -> Any:
        return facts.get(fact_class, fact_class.default() if callable(fact_class.default) else {})

    return HostContext("h1", groups, data, getter)


def test_policy_restricts_db_cache_and_exporters_to_their_clients() -> None:
    policy = firewall_policy(
        ("db_primary",), {"firewall_db_sources": ["192.0.2.0/24"]}, addresses_of
    )
    assert policy[(22, "tcp")] is None
    assert policy[(5432, "tcp")] == (
        "10.0.1.10",
        "10.0.1.11",
        "10.0.2.10",
        "10.0.2.11",
        "192.0.2.0/24",
    )
    assert policy[(9100, "tcp")] == policy[(9187, "tcp")] == ("10.0.9.9",)
    assert (6379, "tcp") not in policy and (80, "tcp") not in policy
    cache = firewall_policy(("cache",), {}, addresses_of)
    assert cache[(6379, "tcp")] == ("10.0.1.10", "10.0.1.11")


def test_user_can_open_a_restricted_port_to_everyone() -> None:
    data = {"firewall_allowed_ports": ["5432"]}
    assert firewall_policy(("db_primary",), data, addresses_of)[(5432, "tcp")] is None
    assert (5432, "tcp") not in must_be_restricted(("db_primary",), data)


def test_no_monitoring_host_means_exporters_reach_nobody() -> None:
    policy = firewall_policy(("web",), {}, lambda group: [])
    assert policy[(9100, "tcp")] == () and policy[(9113, "tcp")] == ()
    text = render_ruleset({(22, "tcp")}, {port: () for port in ((9100, "tcp"),)})
    assert "9100" not in text


def test_rendered_ruleset_splits_families_and_rate_limits_public_ports() -> None:
    text = render_ruleset(
        {(22, "tcp"), (443, "tcp")},
        {(5432, "tcp"): ("10.0.1.10", "2001:db8::/64")},
        limited={22, 443},
        rate=10,
    )
    assert "ip saddr { 10.0.1.10 } tcp dport 5432 accept" in text
    assert "ip6 saddr { 2001:db8::/64 } tcp dport 5432 accept" in text
    assert "tcp dport { 22, 443 } ct state new update @flood_v4" in text
    assert "limit rate over 10/second burst 20 packets" in text
    assert "flood" not in render_ruleset({(22, "tcp")}, limited={22}, rate=0)
    input_chain = text.split("chain input {")[1].split("chain forward")[0].splitlines()
    rules = [line.strip() for line in input_chain if line.strip() not in ("", "}")]
    assert rules[-1] == 'counter drop comment "hardening-default-drop"'


def test_split_families() -> None:
    assert split_families(["10.0.0.1/32", "10.1.0.0/16", "::1"]) == (
        ["10.0.0.1", "10.1.0.0/16"],
        ["::1"],
    )


@pytest.mark.parametrize(
    ("port", "expected"),
    [(22, OPEN), (443, OPEN), (5432, RESTRICTED), (9100, RESTRICTED), (8080, BLOCKED)],
)
def test_rate_limit_drop_does_not_block_and_sources_restrict(port: int, expected: str) -> None:
    assert port_reachability(hardened(), port) == expected


def test_rate_limited_ports_are_found() -> None:
    assert rate_limited_ports(hardened()) == dict.fromkeys((22, 80, 443), "25/second per source")
    assert rate_limited_ports(hardened(), "udp") == {}


def test_public_ports() -> None:
    assert public_ports(("web",), {"ssh_port": 2222}) == {(2222, "tcp"), (80, "tcp"), (443, "tcp")}
    assert public_ports(("db_replica",), {}) == {(22, "tcp")}


SOCKETS = [
    {"proto": "tcp", "address": "0.0.0.0", "port": 22, "process": "sshd"},
    {"proto": "tcp", "address": "0.0.0.0", "port": 5432, "process": "postgres"},
    {"proto": "tcp", "address": "*", "port": 9100, "process": "node_exporter"},
]


def test_sec04_fails_when_a_restricted_port_is_open_to_everyone() -> None:
    open_everywhere = {
        "available": True,
        "tables": [],
        "chains": [
            {"family": "inet", "table": "t", "name": "input", "hook": "input", "policy": "drop"}
        ],
        "rules": [
            {
                "family": "inet",
                "table": "t",
                "chain": "input",
                "expr": [
                    {
                        "match": {
                            "op": "==",
                            "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                            "right": {"set": [22, 5432, 9100]},
                        }
                    },
                    {"accept": None},
                ],
            }
        ],
    }
    outcome = CHECKS["firewall.only_necessary_ports"](
        context({NftablesRuleset: open_everywhere, ListeningSockets: SOCKETS}, ("db_primary",))
    )
    assert outcome.status is Status.FAIL
    assert "allowed only from some sources: 5432/tcp (postgres), 9100/tcp" in outcome.evidence


def test_sec04_passes_with_source_rules() -> None:
    outcome = CHECKS["firewall.only_necessary_ports"](
        context({NftablesRuleset: hardened(), ListeningSockets: SOCKETS})
    )
    assert outcome.status is Status.PASS, outcome.evidence
    assert "5432/tcp (postgres) restricted" in outcome.evidence


def test_sec07_fails_on_a_fresh_host_and_passes_when_hardened() -> None:
    fresh = {"net.ipv4.tcp_syncookies": 1, "net.ipv4.conf.all.rp_filter": 0}
    outcome = CHECKS["firewall.ddos_protection"](
        context({NftablesRuleset: NftablesRuleset.default(), Sysctl: fresh})
    )
    assert outcome.status is Status.FAIL and outcome.fix
    assert "net.ipv4.conf.all.rp_filter=0 (want 1)" in outcome.evidence
    assert "no per-source rate limit on 22, 80, 443" in outcome.evidence
    good = context({NftablesRuleset: hardened(), Sysctl: dict(DDOS_SYSCTLS)})
    outcome = CHECKS["firewall.ddos_protection"](good)
    assert outcome.status is Status.PASS, outcome.evidence
    assert "rate-limited on 22, 80, 443 (25/second per source)" in outcome.evidence


def test_sec07_kernel_sysctls_are_not_applicable_in_containers() -> None:
    data = {"ddos_sysctls": {"kernel.kptr_restrict": 2}}
    assert ddos_sysctls(data)["kernel.kptr_restrict"] == 2
    facts = {
        NftablesRuleset: hardened(),
        Sysctl: dict(DDOS_SYSCTLS),
        Virtualization: {"container": "lxc", "vm": "none"},
    }
    outcome = CHECKS["firewall.ddos_protection"](context(facts, **data))
    assert outcome.status is Status.PASS
    assert "not applicable in a container (read-only): kernel.kptr_restrict" in outcome.evidence


def test_bad_sources_are_rejected_before_anything_changes() -> None:
    assert validate_host_data({"firewall_db_sources": ["10.0.0.0/8", "2001:db8::1"]}) == []
    assert validate_host_data({"firewall_cache_sources": ["app.example"]}) == [
        "firewall_cache_sources: 'app.example' is not an IP address or network (e.g. 10.0.0.0/24)"
    ]
    assert validate_host_data({"firewall_monitoring_sources": "10.0.0.1"}) == [
        "firewall_monitoring_sources must be a list of IP addresses or networks, got str"
    ]
    assert validate_host_data({"ddos_sysctls": ["net.ipv4.tcp_syncookies"]}) == [
        "ddos_sysctls must be a mapping of sysctl names to values"
    ]
