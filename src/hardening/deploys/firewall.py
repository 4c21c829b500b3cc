"""SEC-04: the nftables firewall deploy."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from hardening.inventory import host_groups
from hardening.operations import firewall as firewall_ops
from hardening.settings import allowed_ports, parse_port, setting


@deploy("Firewall: default deny, only the inventory's ports")
def firewall() -> None:
    if not setting(host.data, "firewall_enabled"):
        host.noop("firewall_enabled is false for this host")
        return
    firewall_ops.ruleset(
        name="nftables ruleset (validated, atomic, with rollback)",
        ports=allowed_ports(host_groups(host), host.data.dict()),
        ssh_port=parse_port(host.data.get("ssh_port") or 22)[0],
        rollback_seconds=setting(host.data, "firewall_rollback_seconds"),
    )
