"""SEC-04 and SEC-07 (host part): the nftables firewall and DDoS sysctls."""

from __future__ import annotations

import ipaddress
import socket

from pyinfra import host
from pyinfra.api import DeployError, deploy

from hardening.deploys._common import require_valid_data
from hardening.firewall_policy import ddos_sysctls, firewall_policy, public_ports
from hardening.inventory import host_groups
from hardening.operations import firewall as firewall_ops
from hardening.settings import parse_port, setting

DDOS_SYSCTL_FILE = "/etc/sysctl.d/60-hardening-ddos.conf"


def group_addresses(group: str) -> list[str]:
    """IP addresses of the hosts of an inventory group (``ssh_hostname``, else the name)."""
    addresses = []
    for member in host.inventory.get_group(group, []):
        name = member.data.get("ssh_hostname") or member.name
        try:
            addresses.append(str(ipaddress.ip_address(name)))
        except ValueError:
            try:
                addresses.append(socket.gethostbyname(name))
            except OSError as error:
                raise DeployError(
                    f"firewall: cannot resolve {name} (group {group}) to an address for the "
                    f"source rules ({error}); set its ssh_hostname to an IP address"
                ) from None
    return addresses


@deploy("DDoS protection (host): SYN cookies, reverse-path filter, ICMP limits")
def ddos_protection() -> None:
    firewall_ops.sysctls(
        name="net.* sysctls against SYN floods and spoofing",
        values=ddos_sysctls(host.data.dict()),
        path=DDOS_SYSCTL_FILE,
    )


@deploy("Firewall: default deny, only the inventory's ports, from the allowed sources")
def firewall() -> None:
    """SEC-07 sysctls, then the SEC-04 ruleset (with SEC-07's per-source rate limits)."""
    data = host.data.dict()
    require_valid_data()
    ddos_protection()
    if not setting(host.data, "firewall_enabled"):
        host.noop("firewall_enabled is false for this host")
        return
    groups = host_groups(host)
    policy = firewall_policy(groups, data, group_addresses)
    firewall_ops.ruleset(
        name="nftables ruleset (validated, atomic, with rollback)",
        ports={port for port, sources in policy.items() if sources is None},
        restricted={port: sources for port, sources in policy.items() if sources is not None},
        limited={port for port, proto in public_ports(groups, data) if proto == "tcp"},
        rate=setting(host.data, "firewall_conn_rate"),
        ssh_port=parse_port(host.data.get("ssh_port") or 22)[0],
        rollback_seconds=setting(host.data, "firewall_rollback_seconds"),
    )
