"""Names, addresses and inventory groups of the hosts of a bed (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass

from .config import NET_PREFIX
from .errors import TestbedError

GROUPS = ("web", "db_primary", "db_replica", "cache", "monitoring")
MAX_HOSTS = 20


@dataclass(frozen=True)
class HostSpec:
    """Everything fixed about a host before it exists.

    Host N lives in network namespace ``<prefix>N``, reached over the veth pair whose
    control-node end is ``<prefix>Nh`` (address ``10.77.M.1``) and whose other end is ``eth0``
    in the namespace (address ``10.77.M.2``), where ``M`` is N plus the bed's subnet offset.
    """

    index: int
    name: str
    address: str
    gateway: str
    netns: str
    veth: str
    groups: tuple[str, ...]


def host_groups(index: int) -> tuple[str, ...]:
    """Inventory groups of host ``index`` (1-based).

    Host 1 is the web server, database primary, cache and monitoring host; host 2 is the
    database replica; further hosts are web servers. So a one-host bed has the same host 1
    and no replica.
    """
    if index == 1:
        return ("web", "db_primary", "cache", "monitoring")
    if index == 2:
        return ("db_replica",)
    return ("web",)


def plan_hosts(count: int, prefix: str, net_offset: int = 0) -> list[HostSpec]:
    """Specs of hosts ``tb1`` .. ``tb<count>``."""
    if not 1 <= count <= MAX_HOSTS:
        raise TestbedError(f"cannot start {count} hosts: use 1..{MAX_HOSTS}")
    if net_offset + count > 254:
        raise TestbedError(f"subnet offset {net_offset} leaves no room for {count} hosts")
    specs = []
    for index in range(1, count + 1):
        subnet = f"{NET_PREFIX}.{net_offset + index}"
        specs.append(
            HostSpec(
                index=index,
                name=f"tb{index}",
                address=f"{subnet}.2",
                gateway=f"{subnet}.1",
                netns=f"{prefix}{index}",
                veth=f"{prefix}{index}h",
                groups=host_groups(index),
            )
        )
    return specs


def etc_hosts(own: HostSpec, bed: list[HostSpec], mirror_host: str) -> str:
    """``/etc/hosts`` of a host: the bed's hosts, and the apt mirror at the host's gateway."""
    lines = [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "ff02::1\tip6-allnodes",
        "ff02::2\tip6-allrouters",
        *(f"{h.address}\t{h.name}" for h in bed),
        f"{own.gateway}\t{mirror_host}\t# apt mirror, forwarded by the control node",
    ]
    return "\n".join(lines) + "\n"
