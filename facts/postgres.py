"""PostgreSQL facts, read on the host as the ``postgres`` OS user.

Installed as ``hardening.facts.postgres``. These facts only read: ``SELECT``
statements and login attempts with publicly known default credentials.
"""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase, StringCommand
from pyinfra.api.command import QuoteString

_ABSENT, _DOWN = "#absent", "#down"


def _psql_as_postgres(sql: str) -> StringCommand:
    """``psql`` as the postgres OS user; prints #absent / #down instead of failing."""
    return StringCommand(
        "if ! command -v pg_lsclusters >/dev/null 2>&1; then echo '#absent';",
        "else runuser -u postgres -- psql -XAtq -F '|' -c",
        QuoteString(sql),
        "2>/dev/null || echo '#down'; fi",
    )


def _state(output: list[str]) -> dict:
    return {"installed": _ABSENT not in output, "running": not {_ABSENT, _DOWN} & set(output)}


class PostgresHbaRules(FactBase):
    """
    The effective ``pg_hba.conf`` rules of the running server (``pg_hba_file_rules``).

    .. code:: python

        {
            "installed": True,
            "running": True,
            "rules": [
                {"line": 118, "type": "local", "database": "all", "user": "postgres",
                 "address": "", "netmask": "", "method": "peer"},
            ],
        }
    """

    @staticmethod
    def default() -> dict:
        return {"installed": False, "running": False, "rules": []}

    def command(self) -> StringCommand:
        return _psql_as_postgres(
            "SELECT line_number, type, array_to_string(database, ','), "
            "array_to_string(user_name, ','), coalesce(address, ''), coalesce(netmask, ''), "
            "coalesce(auth_method, '') FROM pg_hba_file_rules ORDER BY line_number"
        )

    def process(self, output: list[str]) -> dict:
        fact = {**_state(output), "rules": []}
        for line in output:
            fields = line.split("|")
            if len(fields) != 7 or not fields[0].isdigit():
                continue
            keys = ("line", "type", "database", "user", "address", "netmask", "method")
            rule = dict(zip(keys, fields, strict=True))
            rule["line"] = int(fields[0])
            fact["rules"].append(rule)
        return fact


#: Publicly known default credentials that must never work (label, user, password).
WELL_KNOWN_LOGINS: tuple[tuple[str, str, str], ...] = (
    ("postgres without password", "postgres", ""),
    ("postgres/postgres", "postgres", "postgres"),
    ("postgres/password", "postgres", "password"),
    ("postgres/admin", "postgres", "admin"),
)


class PostgresDefaultLogins(FactBase):
    """
    Which publicly known default logins PostgreSQL accepts over TCP.

    Tries each of ``WELL_KNOWN_LOGINS`` against ``host:port`` (default
    ``127.0.0.1:5432``) with a 3 s timeout and no password prompt.

    .. code:: python

        {"installed": True, "listening": True, "accepted": ["postgres/postgres"]}
    """

    @staticmethod
    def default() -> dict:
        return {"installed": False, "listening": False, "accepted": []}

    def command(self, host: str = "127.0.0.1", port: int = 5432) -> StringCommand:
        parts: list = [
            "if ! command -v psql >/dev/null 2>&1; then echo '#absent'; exit 0; fi;",
            "if ! pg_isready -q -h",
            QuoteString(host),
            "-p",
            QuoteString(str(port)),
            "; then echo '#down'; exit 0; fi;",
        ]
        for label, user, password in WELL_KNOWN_LOGINS:
            parts += [
                f"PGCONNECT_TIMEOUT=3 PGPASSWORD={shlex.quote(password)} psql -XAtqw -h",
                QuoteString(host),
                "-p",
                QuoteString(str(port)),
                "-U",
                QuoteString(user),
                "-d postgres -c 'SELECT 1' >/dev/null 2>&1 && echo",
                QuoteString("accepted:" + label),
                ";",
            ]
        parts.append("echo '#tried'")  # an empty output would make pyinfra skip process()
        return StringCommand(*parts)

    def process(self, output: list[str]) -> dict:
        return {
            "installed": _ABSENT not in output,
            "listening": not {_ABSENT, _DOWN} & set(output),
            "accepted": [
                line[len("accepted:") :] for line in output if line.startswith("accepted:")
            ],
        }
