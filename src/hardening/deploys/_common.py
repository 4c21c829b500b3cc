"""Helpers shared by the per-component deploys."""

from __future__ import annotations

from pyinfra import host

from hardening.inventory import host_groups

DB_GROUPS = ("db_primary", "db_replica")


def in_groups(*groups: str) -> bool:
    """True when the current host belongs to one of ``groups``."""
    return any(group in host_groups(host) for group in groups)
