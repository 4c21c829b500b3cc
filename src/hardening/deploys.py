"""Deploys: operations composed per concern, reading their knobs from inventory data.

The scripts in ``deploys/`` only call these, so that a user's own deploy can
do the same::

    from hardening.deploys import firewall, default_passwords
    firewall()
    default_passwords()

Each deploy acts only where it applies (by inventory group) and reads its
settings through ``hardening.settings`` so every default is documented there.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from hardening.inventory import host_groups
from hardening.operations import firewall as firewall_ops
from hardening.operations import pgbouncer as pgbouncer_ops
from hardening.operations import postgres as postgres_ops
from hardening.operations import redis as redis_ops
from hardening.settings import allowed_ports, parse_port, setting

DB_GROUPS = ("db_primary", "db_replica")


def _in_groups(*groups: str) -> bool:
    return any(group in host_groups(host) for group in groups)


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


@deploy("Default passwords replaced")
def default_passwords() -> None:
    # wherever the service is installed, not only in its group: a forgotten Redis counts too
    postgres_ops.no_default_logins(name="PostgreSQL: no default or trust logins")
    redis_ops.require_password(name="Redis: requires a generated password")


@deploy("Connection pooling")
def connection_pooling() -> None:
    if not _in_groups(*DB_GROUPS):
        return
    pgbouncer_ops.pooling(
        name="pgBouncer in front of PostgreSQL",
        listen_port=setting(host.data, "pgbouncer_port"),
        pool_mode=setting(host.data, "pgbouncer_pool_mode"),
        default_pool_size=setting(host.data, "pgbouncer_default_pool_size"),
        max_client_conn=setting(host.data, "pgbouncer_max_client_conn"),
    )


@deploy("Harden: every enforceable checklist item that exists so far")
def harden() -> None:
    default_passwords()
    connection_pooling()
    firewall()
