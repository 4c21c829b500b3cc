"""Facts about where credentials come from. Installed as ``hardening.facts.secrets``.

None of them returns a secret: PostgreSQL login roles are described by their SCRAM
salt, iteration count and a digest of the stored keys (enough for the control node to
tell whether a role has the password the backend holds), the marker file holds no values.
"""

from __future__ import annotations

import json

from pyinfra.api import FactBase, StringCommand
from pyinfra.api.command import QuoteString

#: Where deploys/secrets.py records the backend and its credentials (no values).
MARKER_FILE = "/etc/hardening/secrets-backend.json"


class PostgresLoginRoles(FactBase):
    """
    Login flag and SCRAM verifier shape of PostgreSQL roles (none: ``{}``).

    .. code:: python

        {"app_a": {"login": True, "iterations": 4096, "salt": "hjwZ...==",
                   "keys_sha256": "9f2c..."}}
    """

    default = dict

    def command(self, roles: tuple[str, ...] = ("app_a", "app_b")) -> StringCommand:
        names = ",".join(f"'{role}'" for role in roles if role.replace("_", "").isalnum())
        sql = (
            "SELECT rolname, rolcanlogin, "
            "coalesce(substring(rolpassword from '^SCRAM-SHA-256\\$([0-9]+):'), ''), "
            "coalesce(substring(rolpassword from '^SCRAM-SHA-256\\$[0-9]+:([^$]+)\\$'), ''), "
            "coalesce(encode(sha256(convert_to(substring(rolpassword from "
            "'^SCRAM-SHA-256\\$[^$]+\\$(.+)$'), 'UTF8')), 'hex'), '') "
            f"FROM pg_authid WHERE rolname IN ({names})"
        )
        return StringCommand(
            "if ! command -v psql >/dev/null 2>&1; then echo '#absent'; else",
            "runuser -u postgres -- psql -XAtq -F '|' -c",
            QuoteString(sql),
            "2>/dev/null; echo '#done'; fi",
        )

    def process(self, output: list[str]) -> dict:
        roles = {}
        for line in output:
            fields = line.split("|")
            if len(fields) != 5:
                continue
            name, login, iterations, salt, keys = fields
            roles[name] = {
                "login": login == "t",
                "iterations": int(iterations) if iterations.isdigit() else 0,
                "salt": salt,
                "keys_sha256": keys,
            }
        return roles


class SecretsMarker(FactBase):
    """
    The marker deploys/secrets.py leaves: which backend holds this host's credentials,
    and when each was last promoted (rotated). ``{}`` when absent or unreadable.

    .. code:: python

        {"backend": "vault", "location": "vault https://vault:8200 kv2 secret/hardening",
         "credentials": {"postgres-app": {"username": "app_b", "promoted_at": 1712345678}}}
    """

    default = dict

    def command(self, path: str = MARKER_FILE) -> StringCommand:
        return StringCommand("cat", QuoteString(path), "2>/dev/null || echo '#absent'")

    def process(self, output: list[str]) -> dict:
        if "#absent" in output:
            return {}
        try:
            data = json.loads("\n".join(output))
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
