"""pgBouncer facts. Installed as ``hardening.facts.pgbouncer``."""

from __future__ import annotations

import re

from pyinfra.api import FactBase, StringCommand
from pyinfra.api.command import QuoteString

_SECRET_IN_DSN = re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE)


class PgbouncerConfig(FactBase):
    """
    pgBouncer's configuration file, parsed, and whether its service is active.

    Passwords inside ``[databases]`` connection strings are masked in the fact.

    .. code:: python

        {"installed": True, "active": True,
         "config": {"pgbouncer": {"listen_port": "6432", "pool_mode": "transaction"},
                    "databases": {"*": "host=127.0.0.1 port=5432"}}}
    """

    @staticmethod
    def default() -> dict:
        return {"installed": False, "active": False, "config": {}}

    def command(self, path: str = "/etc/pgbouncer/pgbouncer.ini") -> StringCommand:
        return StringCommand(
            "if [ ! -f",
            QuoteString(path),
            "]; then echo '#absent'; exit 0; fi;",
            'echo "#active:$(systemctl is-active pgbouncer 2>/dev/null)";',
            "cat",
            QuoteString(path),
        )

    def process(self, output: list[str]) -> dict:
        if "#absent" in output:
            return self.default()
        fact: dict = {"installed": True, "active": False, "config": {}}
        section = None
        for raw in output:
            line = raw.strip()
            if line.startswith("#active:"):
                fact["active"] = line == "#active:active"
            elif not line or line[0] in "#;":
                continue
            elif line.startswith("[") and line.endswith("]"):
                section = line[1:-1].strip().lower()
                fact["config"].setdefault(section, {})
            elif "=" in line and section:
                key, _, value = line.partition("=")
                fact["config"][section][key.strip()] = _SECRET_IN_DSN.sub(r"\1***", value.strip())
        return fact
