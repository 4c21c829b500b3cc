"""Helpers shared by the per-component deploys."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import DeployError

from hardening.inventory import host_groups
from hardening.settings import validate_host_data

DB_GROUPS = ("db_primary", "db_replica")


def in_groups(*groups: str) -> bool:
    """True when the current host belongs to one of ``groups``."""
    return any(group in host_groups(host) for group in groups)


def require_valid_data() -> None:
    """Stop before anything is queued when this host's inventory data is malformed."""
    problems = validate_host_data(host.data.dict())
    if problems:
        raise DeployError(f"{host.name}: inventory data: " + "; ".join(problems))


def not_needed_here(unit: str) -> None:
    """Stop and disable ``unit``: installed on this host, but none of its groups needs it
    (an unneeded listener is an open port, SEC-04, and often a plaintext one, SEC-03)."""
    from pyinfra.operations import systemd

    systemd.service(
        name=f"{unit} is not needed here: stopped and disabled",
        service=unit,
        running=False,
        enabled=False,
    )
