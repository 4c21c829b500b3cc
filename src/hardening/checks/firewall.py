"""Firewall checks (SEC-04)."""

from __future__ import annotations

from hardening.checks import HostContext, check
from hardening.facts.network import ListeningSockets, is_loopback
from hardening.facts.nftables import NftablesRuleset
from hardening.nft import BLOCKED, OPEN, default_deny, port_reachability
from hardening.results import Outcome
from hardening.settings import allowed_ports, format_ports

FIX = "run deploys/firewall.py (nftables, default deny, only the inventory's ports)"


@check("firewall.only_necessary_ports")
def only_necessary_ports(ctx: HostContext) -> Outcome:
    """Fail when a port outside the policy is reachable, or inbound is not default-deny."""
    ruleset = ctx.fact(NftablesRuleset)
    sockets = ctx.fact(ListeningSockets)
    policy = allowed_ports(ctx.groups, ctx.data)
    listening = {
        (entry["port"], entry["proto"]): entry["process"]
        for entry in sockets
        if not is_loopback(entry["address"])
    }
    exposed = []
    filtered = []
    for (port, proto), process in sorted(listening.items()):
        if (port, proto) in policy:
            continue
        reach = port_reachability(ruleset, port, proto)
        label = f"{port}/{proto}" + (f" ({process})" if process else "")
        (exposed if reach == OPEN else filtered).append(
            label if reach != BLOCKED else label + " blocked"
        )
    evidence = [
        f"policy allows {format_ports(policy)}",
        "network listeners: " + (", ".join(f"{p}/{t}" for p, t in sorted(listening)) or "none"),
    ]
    if not ruleset["available"]:
        evidence.append("nft is not installed")
    deny = default_deny(ruleset)
    evidence.append("inbound default deny" if deny else "no default-deny inbound chain")
    if filtered:
        evidence.append("filtered: " + ", ".join(filtered))
    if exposed:
        evidence.append("reachable from anywhere but not in policy: " + ", ".join(exposed))
    text = "; ".join(evidence)
    if exposed or not deny:
        return Outcome.failed(text, fix=FIX)
    return Outcome.passed(text)
