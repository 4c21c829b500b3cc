"""haproxy facts: backend servers and their health checks, read from the stats socket.
Installed as ``hardening.facts.haproxy``."""

from __future__ import annotations

import csv

from pyinfra.api import FactBase, StringCommand
from pyinfra.api.command import QuoteString

#: Reads ``show stat`` from the admin socket (python3: socat is not installed on hosts).
_SHOW_STAT = (
    "import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(5); "
    "s.connect(sys.argv[1]); s.sendall(b'show stat\\n'); d=b''\n"
    "while True:\n c=s.recv(65536)\n if not c: break\n d+=c\n"
    "sys.stdout.write(d.decode(errors='replace'))"
)


class HaproxyServers(FactBase):
    """
    Backend servers haproxy knows, with the state of their active health checks.

    .. code:: python

        {"installed": True, "running": True,
         "servers": [{"backend": "hardening_app", "server": "app1",
                      "address": "127.0.0.1:8000", "status": "UP",
                      "check": "L7OK", "check_code": "200"}]}
    """

    @staticmethod
    def default() -> dict:
        return {"installed": False, "running": False, "servers": []}

    def command(self, socket: str = "/run/haproxy/admin.sock") -> StringCommand:
        return StringCommand(
            "if ! command -v haproxy >/dev/null 2>&1; then echo '#absent'; exit 0; fi;",
            "echo '#installed';",
            "timeout 10 python3 -c",
            QuoteString(_SHOW_STAT),
            QuoteString(socket),
            "2>/dev/null || echo '#down'",
        )

    def process(self, output: list[str]) -> dict:
        if "#absent" in output:
            return self.default()
        return {
            "installed": True,
            "running": "#down" not in output,
            "servers": parse_show_stat(output),
        }


def parse_show_stat(output: list[str]) -> list[dict]:
    """Server rows (not FRONTEND/BACKEND) of haproxy's ``show stat`` CSV."""
    header = next((line for line in output if line.startswith("# pxname")), None)
    if header is None:
        return []
    rows = [line for line in output if line and not line.startswith("#")]
    reader = csv.DictReader(rows, fieldnames=header[2:].split(","))
    return [
        {
            "backend": row["pxname"],
            "server": row["svname"],
            "address": row.get("addr") or "",
            "status": row.get("status") or "",
            "check": row.get("check_status") or "",
            "check_code": row.get("check_code") or "",
        }
        for row in reader
        if row["svname"] not in ("FRONTEND", "BACKEND")
    ]
