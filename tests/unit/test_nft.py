"""Reachability reasoning over real `nft -j list ruleset` output (fixtures made with nft 1.0.6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardening.facts.nftables import NftablesRuleset
from hardening.nft import (
    BLOCKED,
    OPEN,
    RESTRICTED,
    default_deny,
    port_reachability,
    uncounted_default_drops,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def ruleset(name: str) -> dict:
    return NftablesRuleset().process((FIXTURES / f"{name}.json").read_text().splitlines())


def test_empty_ruleset_is_open_everywhere() -> None:
    empty = ruleset("nft_empty")
    assert empty["available"] and not default_deny(empty)
    assert port_reachability(empty, 5432) == OPEN


@pytest.mark.parametrize(
    ("port", "proto", "expected"),
    [(22, "tcp", OPEN), (443, "tcp", OPEN), (5432, "tcp", BLOCKED), (53, "udp", BLOCKED)],
)
def test_hardened_template(port: int, proto: str, expected: str) -> None:
    hardened = ruleset("nft_hardened")
    assert default_deny(hardened)
    assert port_reachability(hardened, port, proto) == expected


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        (22, OPEN),
        (5432, RESTRICTED),  # ip saddr 10.0.0.0/8 only
        (80, OPEN),  # jump to a chain that rate-limits, then accepts
        (8050, OPEN),  # inside a dport range
        (9100, BLOCKED),
    ],
)
def test_mixed_ruleset(port: int, expected: str) -> None:
    assert port_reachability(ruleset("nft_mixed"), port) == expected


def test_not_available_default() -> None:
    assert NftablesRuleset.default()["available"] is False


def test_counted_default_drop() -> None:
    """nft_counted_drop.json: the template's ruleset on a testbed host (tb1, after
    deploys/firewall.py) ending in ``counter drop comment "hardening-default-drop"``."""
    counted = ruleset("nft_counted_drop")
    assert uncounted_default_drops(counted) == []
    assert uncounted_default_drops(ruleset("nft_hardened")) == ["inet hardening input"]
    assert uncounted_default_drops(ruleset("nft_empty")) == []  # no default drop to count
    assert port_reachability(counted, 22) == OPEN
    assert port_reachability(counted, 5432) == RESTRICTED
    assert port_reachability(counted, 3306) == BLOCKED
