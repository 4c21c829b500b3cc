from __future__ import annotations

import pytest

from hardening.settings import allowed_ports, format_ports, parse_port, validate_host_data


@pytest.mark.parametrize(
    ("entry", "expected"), [(22, (22, "tcp")), ("443", (443, "tcp")), ("514/UDP", (514, "udp"))]
)
def test_parse_port(entry, expected) -> None:
    assert parse_port(entry) == expected


@pytest.mark.parametrize("entry", [0, 70000, "http", "22/icmp", True, "-1"])
def test_parse_port_rejects(entry) -> None:
    with pytest.raises(ValueError):
        parse_port(entry)


def test_allowed_ports_from_groups() -> None:
    ports = allowed_ports(("web", "cache"), {"ssh_port": 2222, "firewall_allowed_ports": ["9100"]})
    assert format_ports(ports) == "80/tcp, 443/tcp, 2222/tcp, 6379/tcp, 9100/tcp"


def test_validate_host_data() -> None:
    assert validate_host_data({"firewall_allowed_ports": [22, "53/udp"]}) == []
    problems = validate_host_data(
        {"firewall_allowed_ports": "22", "pgbouncer_port": "x", "firewall_enabled": "yes"}
    )
    assert len(problems) == 3
    assert validate_host_data({"firewall_allowed_ports": ["http"]}) == [
        "firewall_allowed_ports: invalid port 'http' (a number 1-65535, optionally /tcp or /udp)"
    ]
