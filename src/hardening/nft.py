"""Reason about an nftables ruleset: is a port reachable from the network?

Pure functions over the ``NftablesRuleset`` fact; used by the firewall check
(judging) and by the firewall operation (verifying its own result).

Every base chain hooked on ``input`` must let a packet through, so a port is:

- ``blocked`` when some input chain drops it for every source,
- ``restricted`` when it is accepted only from some sources (``ip saddr``,
  interface, a rate-limit meter with a drop afterwards ...),
- ``open`` when every input chain accepts it from anywhere (or there is no
  input chain at all).
"""

from __future__ import annotations

import json
from typing import Any

OPEN, RESTRICTED, BLOCKED = "open", "restricted", "blocked"
_TERMINAL = {"accept", "drop", "reject"}
_L4_PROTOCOLS = {"tcp", "udp", "icmp", "icmpv6", "sctp", "dccp", "udplite"}
_IGNORED_STATEMENTS = {"counter", "log", "limit", "meter", "set", "notrack", "quota", "mangle"}


def input_chains(ruleset: dict) -> list[dict]:
    """Base chains of type filter hooked on input (inet, ip, ip6 families)."""
    return [
        chain
        for chain in ruleset.get("chains", [])
        if chain.get("hook") == "input" and chain.get("family") in ("inet", "ip", "ip6")
    ]


def default_deny(ruleset: dict) -> bool:
    """True when at least one input chain drops by default."""
    return any(chain.get("policy") == "drop" for chain in input_chains(ruleset))


def port_reachability(ruleset: dict, port: int, proto: str = "tcp") -> str:
    """``open``, ``restricted`` or ``blocked`` for new connections to ``port/proto``."""
    chains = input_chains(ruleset)
    if not chains:
        return OPEN
    verdicts = [_chain_verdict(ruleset, chain, port, proto, depth=0) for chain in chains]
    if BLOCKED in verdicts:
        return BLOCKED
    if RESTRICTED in verdicts:
        return RESTRICTED
    return OPEN


def _rules_of(ruleset: dict, chain: dict) -> list[dict]:
    return [
        rule
        for rule in ruleset.get("rules", [])
        if rule.get("family") == chain.get("family")
        and rule.get("table") == chain.get("table")
        and rule.get("chain") == chain.get("name")
    ]


def _find_chain(ruleset: dict, family: str, table: str, name: str) -> dict | None:
    for chain in ruleset.get("chains", []):
        if (chain.get("family"), chain.get("table"), chain.get("name")) == (family, table, name):
            return chain
    return None


def _chain_verdict(ruleset: dict, chain: dict, port: int, proto: str, depth: int) -> str | None:
    """Walk a chain; ``None`` means it fell through (only for non-base chains)."""
    restricted_accept = False
    for rule in _rules_of(ruleset, chain):
        match = _rule_matches(rule.get("expr", []), port, proto)
        if match is False:
            continue
        verdict, target = _rule_verdict(rule.get("expr", []))
        if verdict in ("jump", "goto") and target and depth < 16:
            sub = _find_chain(ruleset, chain["family"], chain["table"], target)
            result = _chain_verdict(ruleset, sub, port, proto, depth + 1) if sub else None
            if result is None:
                continue
            verdict = {OPEN: "accept", BLOCKED: "drop", RESTRICTED: "restricted"}[result]
        if verdict == "accept":
            if match == "conditional":
                restricted_accept = True
                continue
            return RESTRICTED if restricted_accept else OPEN
        if verdict == "restricted":
            restricted_accept = True
            continue
        if verdict in ("drop", "reject") and match is True and not _rate_limited(rule):
            return RESTRICTED if restricted_accept else BLOCKED
        if verdict == "return" and match is True:
            break
    if chain.get("hook") is None:
        return RESTRICTED if restricted_accept else None
    if chain.get("policy", "accept") == "accept":
        return OPEN
    return RESTRICTED if restricted_accept else BLOCKED


def _limits(statement: dict) -> list[dict]:
    """``limit`` statements of one statement, also inside a set update or meter."""
    limits = [statement["limit"]] if isinstance(statement.get("limit"), dict) else []
    for key in ("set", "meter"):
        body = statement.get(key)
        if isinstance(body, dict):
            inner = body.get("stmt", [])
            for nested in inner if isinstance(inner, list) else [inner]:
                if isinstance(nested, dict) and isinstance(nested.get("limit"), dict):
                    limits.append(nested["limit"])
    return limits


def _rate_limited(rule: dict) -> bool:
    """True for a rule that acts only on packets over a rate (``limit rate over``, meters)."""
    return any(
        limit.get("inv") for statement in rule.get("expr", []) for limit in _limits(statement)
    )


def rate_limited_ports(ruleset: dict, proto: str = "tcp") -> dict[int, str]:
    """Ports whose new connections an input chain drops above a per-source rate.

    ``{22: "25/second per source"}``, from rules like ``tcp dport { 22, 443 } ct state new
    update @flood { ip saddr limit rate over 25/second } drop`` (or ``meter``).
    """
    limited: dict[int, str] = {}
    for chain in input_chains(ruleset):
        for rule in _rules_of(ruleset, chain):
            expr = rule.get("expr", [])
            if _rule_verdict(expr)[0] != "drop" or not _rate_limited(rule):
                continue
            rate = _per_source_rate(expr)
            if rate is None:
                continue
            for port in _dports(expr, proto):
                limited[port] = rate
    return limited


def _per_source_rate(expr: list[dict]) -> str | None:
    for statement in expr:
        for key in ("set", "meter"):
            body = statement.get(key)
            if isinstance(body, dict) and "saddr" in json.dumps(body.get("elem", body.get("key"))):
                for limit in _limits(statement):
                    return f"{limit.get('rate')}/{limit.get('per')} per source"
    return None


def _dports(expr: list[dict], proto: str) -> list[int]:
    ports: list[int] = []
    for statement in expr:
        match = statement.get("match", {})
        payload = match.get("left", {}).get("payload", {}) if isinstance(match, dict) else {}
        if payload.get("field") == "dport" and payload.get("protocol") == proto:
            right = match.get("right")
            values = right.get("set", []) if isinstance(right, dict) else [right]
            ports += [value for value in values if isinstance(value, int)]
    return ports


def _rule_verdict(expr: list[dict]) -> tuple[str | None, str | None]:
    for statement in expr:
        for key in _TERMINAL:
            if key in statement:
                return key, None
        for key in ("jump", "goto"):
            if key in statement:
                return key, statement[key].get("target")
        if "return" in statement:
            return "return", None
    return None, None


def _rule_matches(expr: list[dict], port: int, proto: str) -> bool | str:
    """True: matches any new packet to port/proto; False: never; 'conditional': some sources."""
    conditional = False
    for statement in expr:
        if "match" not in statement:
            if any(key in statement for key in _IGNORED_STATEMENTS):
                # a rate limit in front of an accept only limits; the accept still opens
                continue
            continue
        outcome = _match_outcome(statement["match"], port, proto)
        if outcome is False:
            return False
        if outcome == "conditional":
            conditional = True
    return "conditional" if conditional else True


def _match_outcome(match: dict, port: int, proto: str) -> bool | str:
    left, right, op = match.get("left", {}), match.get("right"), match.get("op", "==")
    if isinstance(left, dict) and "payload" in left:
        payload = left["payload"]
        field = payload.get("field")
        if payload.get("protocol") in _L4_PROTOCOLS and payload.get("protocol") != proto:
            return False  # a header of another protocol: never a packet to port/proto
        if field == "dport":
            return _value_contains(right, port) != (op == "!=")
        if field in ("saddr", "sport"):
            return "conditional"
        if field == "protocol" or field == "nexthdr":
            return _value_contains(right, proto) != (op == "!=")
        return "conditional"
    if isinstance(left, dict) and "meta" in left:
        key = left["meta"].get("key")
        if key == "l4proto":
            return _value_contains(right, proto) != (op == "!=")
        if key in ("iif", "iifname"):
            if _value_contains(right, "lo") and op != "!=":
                return False  # loopback only: never matches traffic from the network
            return "conditional"
        if key == "nfproto":
            return True
        return "conditional"
    if isinstance(left, dict) and "ct" in left:
        if left["ct"].get("key") == "state":
            states = right if isinstance(right, list) else [right]
            flat = set()
            for state in states:
                flat |= set(state) if isinstance(state, list) else {state}
            if op == "!=":
                return "new" not in flat
            return "new" in flat
        return "conditional"
    return "conditional"


def _value_contains(value: Any, wanted: Any) -> bool:
    if isinstance(value, dict):
        if "set" in value:
            return any(_value_contains(member, wanted) for member in value["set"])
        if "range" in value:
            low, high = value["range"]
            return isinstance(wanted, int) and low <= wanted <= high
        return False
    if isinstance(value, list):
        return any(_value_contains(member, wanted) for member in value)
    return value == wanted


#: comment of the ruleset's last input rule; the weekly security-log review sums its counter
DEFAULT_DROP_COMMENT = "hardening-default-drop"


def _counted_drop(rule: dict) -> bool:
    """A rule that counts and drops every packet reaching it (no match expressions)."""
    kinds = {key for statement in rule.get("expr", []) for key in statement}
    return kinds == {"counter", "drop"}


def uncounted_default_drops(ruleset: dict) -> list[str]:
    """``family table chain`` of default-drop input chains whose drops nothing counts:
    the last rule must be a bare ``counter drop`` (the weekly review reads its packets)."""
    missing = []
    for chain in input_chains(ruleset):
        rules = _rules_of(ruleset, chain)
        if chain.get("policy") == "drop" and not (rules and _counted_drop(rules[-1])):
            missing.append(f"{chain['family']} {chain['table']} {chain['name']}")
    return missing
