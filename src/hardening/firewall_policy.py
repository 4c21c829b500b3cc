"""Who may reach which port: the firewall policy of a host, from its inventory groups.

Plain data and pure functions, read by the firewall deploy (to render the ruleset)
and by the firewall checks (to judge the live one). Ports are either open to
everyone (SSH, ``GROUP_PORTS`` of ``hardening.settings``, ``firewall_allowed_ports``)
or restricted to the addresses of some inventory groups plus extra sources from a
setting:

=========================== ============================== =============================
port                        on hosts in                    accepted only from
=========================== ============================== =============================
5432, 6432 (PostgreSQL,     db_primary, db_replica         web, db_primary, db_replica,
pgBouncer)                                                 ``firewall_db_sources``
6379 (Redis)                cache                          web, ``firewall_cache_sources``
9100 (node exporter)        every host                     monitoring,
9187 / 9121 / 9113          db / cache / web               ``firewall_monitoring_sources``
(postgres/redis/nginx exp.)
=========================== ============================== =============================

**Example:**

.. code:: python

    policy = firewall_policy(("db_primary",), host.data.dict(), addresses_of_group)
    # {(22, "tcp"): None, (5432, "tcp"): ("10.0.0.5",), (9100, "tcp"): ("10.0.0.9",), ...}
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from hardening.settings import allowed_ports, parse_port, setting

Port = tuple[int, str]
DB_GROUPS = ("db_primary", "db_replica")
DB_CLIENTS = ("web", *DB_GROUPS)
EXPORTER_SCRAPERS = ("monitoring",)
ALL_GROUPS = ("web", "db_primary", "db_replica", "cache", "monitoring")

#: group (``all``: every host) -> (port, groups whose hosts may connect, setting of extra sources)
RESTRICTED_PORTS: dict[str, tuple[tuple[str, tuple[str, ...], str], ...]] = {
    "all": (("9100/tcp", EXPORTER_SCRAPERS, "firewall_monitoring_sources"),),
    "db_primary": (
        ("5432/tcp", DB_CLIENTS, "firewall_db_sources"),
        ("6432/tcp", DB_CLIENTS, "firewall_db_sources"),
        ("9187/tcp", EXPORTER_SCRAPERS, "firewall_monitoring_sources"),
    ),
    "cache": (
        ("6379/tcp", ("web",), "firewall_cache_sources"),
        ("9121/tcp", EXPORTER_SCRAPERS, "firewall_monitoring_sources"),
    ),
    "web": (("9113/tcp", EXPORTER_SCRAPERS, "firewall_monitoring_sources"),),
    # the central log host (first monitoring host by default) receives RELP from every host
    "monitoring": (("2514/tcp", ALL_GROUPS, "firewall_log_sources"),),
}
RESTRICTED_PORTS["db_replica"] = RESTRICTED_PORTS["db_primary"]

#: Ports that face the public and get a per-source new-connection rate limit (SEC-07).
PUBLIC_GROUP_PORTS: dict[str, tuple[str, ...]] = {"web": ("80/tcp", "443/tcp")}


#: net.* sysctls against SYN floods, spoofed sources and ICMP abuse (SEC-07); all of them
#: are per network namespace, so they apply in containers too.
DDOS_SYSCTLS: dict[str, int] = {
    "net.ipv4.tcp_syncookies": 1,
    "net.ipv4.tcp_max_syn_backlog": 4096,
    "net.ipv4.tcp_synack_retries": 2,
    "net.ipv4.tcp_rfc1337": 1,
    "net.ipv4.conf.all.rp_filter": 1,
    "net.ipv4.conf.default.rp_filter": 1,
    "net.ipv4.icmp_echo_ignore_broadcasts": 1,
    "net.ipv4.icmp_ignore_bogus_error_responses": 1,
    "net.ipv4.icmp_ratelimit": 100,
}


def ddos_sysctls(data: dict[str, Any]) -> dict[str, int | str]:
    """The SEC-07 sysctls with the host's ``ddos_sysctls`` overrides applied."""
    return {**DDOS_SYSCTLS, **setting(data, "ddos_sysctls")}


def restricted_rules(groups: Iterable[str]) -> dict[Port, tuple[tuple[str, ...], str]]:
    """``(port, proto) -> (source groups, extra sources setting)`` for a host's groups."""
    rules: dict[Port, tuple[tuple[str, ...], str]] = {}
    for group in ("all", *groups):
        for port, sources, key in RESTRICTED_PORTS.get(group, ()):
            rules[parse_port(port)] = (sources, key)
    return rules


def extra_open_ports(data: dict[str, Any]) -> set[Port]:
    """Ports the user opened to everyone with ``firewall_allowed_ports``."""
    return {parse_port(entry) for entry in setting(data, "firewall_allowed_ports")}


def must_be_restricted(groups: Iterable[str], data: dict[str, Any]) -> set[Port]:
    """Ports that must not be reachable from everyone (unless the user opened them)."""
    return set(restricted_rules(groups)) - extra_open_ports(data)


def public_ports(groups: Iterable[str], data: dict[str, Any]) -> set[Port]:
    """SSH and the web ports: open to everyone, rate-limited per source."""
    ports = {parse_port(data.get("ssh_port") or 22)}
    for group in groups:
        ports |= {parse_port(entry) for entry in PUBLIC_GROUP_PORTS.get(group, ())}
    return ports


def firewall_policy(
    groups: tuple[str, ...],
    data: dict[str, Any],
    addresses_of: Callable[[str], list[str]],
) -> dict[Port, tuple[str, ...] | None]:
    """``(port, proto) -> None`` (open to everyone) or the sorted source addresses.

    + groups: the host's inventory groups
    + data: the host's inventory data
    + addresses_of: inventory group name -> addresses of its hosts
    """
    restricted = restricted_rules(groups)
    extra = extra_open_ports(data)
    opened = {port for port in allowed_ports(groups, data) if port not in restricted}
    policy: dict[Port, tuple[str, ...] | None] = dict.fromkeys(opened | extra)
    for port, (source_groups, key) in restricted.items():
        if port in extra:
            continue
        sources = {address for group in source_groups for address in addresses_of(group)}
        sources |= {str(entry) for entry in setting(data, key)}
        policy[port] = tuple(sorted(sources, key=_sort_key))
    return policy


def split_families(sources: Iterable[str]) -> tuple[list[str], list[str]]:
    """Addresses / networks split into (IPv4, IPv6), normalised for nftables."""
    v4, v6 = [], []
    for source in sources:
        network = ipaddress.ip_network(source, strict=False)
        text = (
            str(network.network_address)
            if network.prefixlen == network.max_prefixlen
            else str(network)
        )
        (v4 if network.version == 4 else v6).append(text)
    return v4, v6


def _sort_key(address: str) -> tuple[int, str]:
    return (":" in address, address)
