"""Inventory data keys that hardening reads, their defaults and their validation.

Every knob is a documented inventory data key with a safe default (as in the
dev-sec roles); nothing is hard-coded in operations or checks. Set them in an
inventory file or ``group_data/*.py``::

    db_primary = [("db1.example.net", {"firewall_allowed_ports": [5432, "9187/tcp"]})]

``SETTINGS`` is the reference; ``docs/configuration.md`` is generated from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    key: str
    default: Any
    kind: str  # "ports", "str", "int", "bool", "list[str]"
    help: str


#: Ports every host in a group must accept from the network, by inventory group.
GROUP_PORTS: dict[str, tuple[str, ...]] = {
    "web": ("80/tcp", "443/tcp"),
    "db_primary": ("5432/tcp", "6432/tcp"),
    "db_replica": ("5432/tcp", "6432/tcp"),
    "cache": ("6379/tcp",),
    "monitoring": ("9090/tcp", "9093/tcp"),
}

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "firewall_allowed_ports",
        [],
        "ports",
        "Extra ports this host accepts from the network, beyond SSH and its groups' "
        "ports (web: 80, 443; db_primary/db_replica: 5432, 6432; cache: 6379; "
        "monitoring: 9090, 9093). Entries: 8080, '8080/tcp' or '514/udp'.",
    ),
    Setting(
        "firewall_enabled",
        True,
        "bool",
        "Let hardening manage the nftables ruleset of this host.",
    ),
    Setting(
        "firewall_rollback_seconds",
        60,
        "int",
        "Seconds after which a newly applied ruleset is rolled back unless a fresh SSH "
        "connection from the control node confirmed it.",
    ),
    Setting(
        "pgbouncer_port",
        6432,
        "int",
        "Port pgBouncer listens on (the port applications connect to).",
    ),
    Setting(
        "pgbouncer_pool_mode",
        "transaction",
        "str",
        "pgBouncer pool_mode: session, transaction or statement.",
    ),
    Setting(
        "pgbouncer_default_pool_size",
        20,
        "int",
        "Server connections per user/database pair.",
    ),
    Setting(
        "pgbouncer_max_client_conn",
        500,
        "int",
        "Maximum client connections pgBouncer accepts.",
    ),
    Setting(
        "app_env_file",
        "",
        "str",
        "Environment file of the application (e.g. /etc/myapp/env). Checks read "
        "variable names and strengths from it, never values into reports.",
    ),
    Setting(
        "app_database_url_var",
        "DATABASE_URL",
        "str",
        "Variable in app_env_file that holds the application's database DSN; the pooling "
        "check verifies that it points at pgBouncer.",
    ),
    Setting(
        "jwt_secret_var",
        "JWT_SECRET",
        "str",
        "Variable in app_env_file that holds the JWT signing secret.",
    ),
    Setting(
        "attestations_dir",
        "attestations",
        "str",
        "Directory of signed attestation records, relative to where the audit runs "
        "(HARDENING_ATTESTATIONS overrides it); see docs/attestations.md.",
    ),
    Setting(
        "attestation_keyring",
        {},
        "keyring",
        "Who may sign attestations as which role: {name: {'key': 'ed25519:...', "
        "'roles': ['tech-lead']}}; adds to <attestations_dir>/keyring.json.",
    ),
)

_BY_KEY = {setting.key: setting for setting in SETTINGS}


def default(key: str) -> Any:
    """The documented default of an inventory key."""
    return _BY_KEY[key].default


def parse_port(entry: Any) -> tuple[int, str]:
    """``22`` / ``"22"`` / ``"514/udp"`` -> ``(port, proto)``; ``ValueError`` if invalid."""
    text = str(entry).strip().lower()
    port_text, _, proto = text.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp"):
        raise ValueError(f"invalid protocol in port {entry!r} (use tcp or udp)")
    if isinstance(entry, bool) or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"invalid port {entry!r} (a number 1-65535, optionally /tcp or /udp)")
    return int(port_text), proto


def validate_host_data(data: dict[str, Any]) -> list[str]:
    """Problems with the hardening keys of one host's data; empty when all is well."""
    problems: list[str] = []
    for key, setting in _BY_KEY.items():
        if key not in data or data[key] is None:
            continue
        value = data[key]
        if setting.kind == "ports":
            if not isinstance(value, list | tuple):
                problems.append(f"{key} must be a list of ports, got {type(value).__name__}")
                continue
            for entry in value:
                try:
                    parse_port(entry)
                except ValueError as error:
                    problems.append(f"{key}: {error}")
        elif setting.kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            problems.append(f"{key} must be a whole number, got {value!r}")
        elif setting.kind == "bool" and not isinstance(value, bool):
            problems.append(f"{key} must be true or false, got {value!r}")
        elif setting.kind == "str" and not isinstance(value, str):
            problems.append(f"{key} must be a string, got {type(value).__name__}")
    ssh_port = data.get("ssh_port")
    if ssh_port is not None:
        try:
            parse_port(ssh_port)
        except ValueError as error:
            problems.append(f"ssh_port: {error}")
    return problems


def allowed_ports(groups: tuple[str, ...], data: dict[str, Any]) -> set[tuple[int, str]]:
    """Ports the policy lets in from the network: SSH, the groups' ports, extra ports."""
    ports = {parse_port(data.get("ssh_port") or 22)}
    for group in groups:
        ports |= {parse_port(entry) for entry in GROUP_PORTS.get(group, ())}
    extra = data.get("firewall_allowed_ports") or default("firewall_allowed_ports")
    ports |= {parse_port(entry) for entry in extra}
    return ports


def format_ports(ports: set[tuple[int, str]]) -> str:
    """``{(22, 'tcp'), (80, 'tcp')}`` -> ``22/tcp, 80/tcp``."""
    return ", ".join(f"{port}/{proto}" for port, proto in sorted(ports)) or "none"


def setting(data: Any, key: str) -> Any:
    """The value of ``key`` in host data (a dict or pyinfra ``HostData``), else its default."""
    value = data.get(key)
    return default(key) if value is None else value
