"""Firewall checks (SEC-04) and host-level DDoS protection (SEC-07)."""

from __future__ import annotations

from pyinfra.facts.server import Sysctl

from hardening.checks import HostContext, check
from hardening.facts.host import Virtualization
from hardening.facts.network import ListeningSockets, is_loopback
from hardening.facts.nftables import NftablesRuleset
from hardening.firewall_policy import ddos_sysctls, must_be_restricted, public_ports
from hardening.nft import OPEN, default_deny, port_reachability, rate_limited_ports
from hardening.results import Outcome
from hardening.settings import allowed_ports, format_ports

FIX = "run deploys/firewall.py (nftables, default deny, only the inventory's ports)"


@check("firewall.only_necessary_ports")
def only_necessary_ports(ctx: HostContext) -> Outcome:
    """Fail when a port outside the policy is reachable, or inbound is not default-deny."""
    ruleset = ctx.fact(NftablesRuleset)
    sockets = ctx.fact(ListeningSockets)
    restrict = must_be_restricted(ctx.groups, ctx.data)
    policy = allowed_ports(ctx.groups, ctx.data) - restrict
    listening = {
        (entry["port"], entry["proto"]): entry["process"]
        for entry in sockets
        if not is_loopback(entry["address"])
    }
    exposed, unrestricted, filtered = [], [], []
    for (port, proto), process in sorted(listening.items()):
        if (port, proto) in policy:
            continue
        reach = port_reachability(ruleset, port, proto)
        label = f"{port}/{proto}" + (f" ({process})" if process else "")
        if reach != OPEN:
            filtered.append(f"{label} {reach}")
        else:
            (unrestricted if (port, proto) in restrict else exposed).append(label)
    evidence = [
        f"policy allows {format_ports(policy)}",
        f"only from allowed sources: {format_ports(restrict)}",
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
    if unrestricted:
        evidence.append(
            "reachable from anywhere but allowed only from some sources: " + ", ".join(unrestricted)
        )
    text = "; ".join(evidence)
    if exposed or unrestricted or not deny:
        return Outcome.failed(text, fix=FIX)
    return Outcome.passed(text)


DDOS_FIX = "run deploys/firewall.py (net.* sysctls and per-source rate limits on public ports)"


@check("firewall.ddos_protection")
def ddos_protection(ctx: HostContext) -> Outcome:
    """SYN cookies and anti-spoofing sysctls set, public ports rate-limited per source."""
    wanted = ddos_sysctls(ctx.data)
    live = ctx.fact(Sysctl, keys=tuple(sorted(wanted)))
    container = ctx.fact(Virtualization)["container"] not in ("none", "")
    wrong, skipped = [], []
    for key, value in sorted(wanted.items()):
        if container and key.startswith("kernel."):
            skipped.append(key)
        elif str(live.get(key)) != str(value):
            wrong.append(f"{key}={live.get(key, 'absent')} (want {value})")
    limited = rate_limited_ports(ctx.fact(NftablesRuleset))
    public = sorted(port for port, proto in public_ports(ctx.groups, ctx.data) if proto == "tcp")
    unlimited = [str(port) for port in public if port not in limited]
    evidence = [f"{len(wanted) - len(wrong) - len(skipped)}/{len(wanted)} sysctls as wanted"]
    evidence += wrong
    if skipped:
        evidence.append("not applicable in a container (read-only): " + ", ".join(skipped))
    rates = sorted({limited[port] for port in public if port in limited})
    evidence.append(
        "new connections rate-limited on "
        + (", ".join(str(port) for port in public if port in limited) or "no public port")
        + (f" ({', '.join(rates)})" if rates else "")
    )
    if unlimited:
        evidence.append("no per-source rate limit on " + ", ".join(unlimited))
    text = "; ".join(evidence)
    if wrong or unlimited:
        return Outcome.failed(text, fix=DDOS_FIX)
    if skipped and len(skipped) == len(wanted):
        return Outcome.not_applicable(text)
    return Outcome.passed(text)
