"""Network facts: what listens on a host.

Installed as ``hardening.facts.network``.
"""

from __future__ import annotations

import re

from pyinfra.api import FactBase

_PROCESS = re.compile(r'\("(?P<name>[^"]+)",pid=(?P<pid>\d+)')


def _split_address(local: str) -> tuple[str, int]:
    address, _, port = local.rpartition(":")
    address = address.strip("[]").split("%", 1)[0]
    return address, int(port) if port.isdigit() else 0


class ListeningSockets(FactBase):
    """
    TCP sockets in LISTEN state and bound UDP sockets, from ``ss``.

    .. code:: python

        [
            {"proto": "tcp", "address": "0.0.0.0", "port": 22, "process": "sshd"},
            {"proto": "tcp", "address": "127.0.0.1", "port": 5432, "process": "postgres"},
        ]
    """

    default = list

    def requires_command(self) -> str:
        return "ss"

    def command(self) -> str:
        return "ss -H -tulnp"

    def process(self, output: list[str]) -> list[dict]:
        sockets = []
        for line in output:
            fields = line.split()
            if len(fields) < 5 or fields[0] not in ("tcp", "udp"):
                continue
            address, port = _split_address(fields[4])
            match = _PROCESS.search(line)
            sockets.append(
                {
                    "proto": fields[0],
                    "address": address,
                    "port": port,
                    "process": match.group("name") if match else "",
                }
            )
        return sockets


def is_loopback(address: str) -> bool:
    """True for addresses only reachable from the host itself."""
    return address.startswith("127.") or address in ("::1", "localhost")
