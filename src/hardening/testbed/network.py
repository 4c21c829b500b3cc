"""Network namespaces, veth pairs and the control node's forwarding rules of a bed.

Host N: namespace ``<prefix>N`` with ``lo`` and ``eth0`` (10.77.M.2/24, default route via
10.77.M.1); the other end of the veth pair, ``<prefix>Nh``, has 10.77.M.1/24 on the control
node. Forwarding is enabled on the testbed's veths only (``net.ipv4.conf.<veth>.forwarding``,
not the global switch), so hosts reach each other through the control node; an nftables table
of the bed lets traffic pass between testbed veths only and rejects the rest at once.
"""

from __future__ import annotations

from pathlib import Path

from .addressing import HostSpec
from .procs import run


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def create_host_network(spec: HostSpec) -> None:
    """Namespace, veth pair, addresses and routes of one host."""
    in_ns = ("ip", "-n", spec.netns)
    run(["ip", "netns", "add", spec.netns])
    run(["ip", "link", "add", spec.veth, "type", "veth", "peer", "name", "eth0", "netns",
         spec.netns])  # fmt: skip
    run([*in_ns, "link", "set", "lo", "up"])
    run([*in_ns, "addr", "add", f"{spec.address}/24", "dev", "eth0"])
    run([*in_ns, "link", "set", "eth0", "up"])
    run([*in_ns, "route", "add", "default", "via", spec.gateway])
    run(["ip", "addr", "add", f"{spec.gateway}/24", "dev", spec.veth])
    run(["ip", "link", "set", spec.veth, "up"])
    Path(f"/proc/sys/net/ipv4/conf/{spec.veth}/forwarding").write_text("1\n")


def remove_host_network(spec: HostSpec) -> list[str]:
    """Delete the veth pair and the namespace if they exist; return what could not be removed."""
    if link_exists(spec.veth):
        run(["ip", "link", "del", spec.veth], check=False)
    if netns_exists(spec.netns):
        run(["ip", "netns", "del", spec.netns], check=False)
    left = []
    if link_exists(spec.veth):
        left.append(f"veth {spec.veth}")
    if netns_exists(spec.netns):
        left.append(f"netns {spec.netns}")
    return left


def firewall_rules(table: str, prefix: str) -> str:
    """nft script of the bed's table (forwarding between the bed's veths only)."""
    return f"""table inet {table} {{
    chain forward {{
        type filter hook forward priority 0; policy accept;
        iifname "{prefix}*" oifname "{prefix}*" accept
        iifname "{prefix}*" reject with icmpx type admin-prohibited
        oifname "{prefix}*" drop
    }}
}}
"""


def install_firewall(table: str, prefix: str) -> None:
    remove_firewall(table)
    run(["nft", "-f", "-"], input_text=firewall_rules(table, prefix))


def remove_firewall(table: str) -> bool:
    """Delete the bed's table if present; True if it is gone."""
    if run(["nft", "list", "table", "inet", table], check=False).returncode == 0:
        run(["nft", "delete", "table", "inet", table], check=False)
    return run(["nft", "list", "table", "inet", table], check=False).returncode != 0
