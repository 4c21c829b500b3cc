"""Redis facts. Installed as ``hardening.facts.redis``."""

from __future__ import annotations

from pyinfra.api import FactBase, StringCommand
from pyinfra.api.command import QuoteString

#: Publicly known Redis passwords that must not open the server.
WELL_KNOWN_PASSWORDS: tuple[str, ...] = ("foobared", "redis", "password")


class RedisAuthState(FactBase):
    """
    Whether Redis answers without AUTH, or with a publicly known password.

    .. code:: python

        {"installed": True, "reachable": True, "open_without_auth": False,
         "accepted_default_passwords": []}
    """

    @staticmethod
    def default() -> dict:
        return {
            "installed": False,
            "reachable": False,
            "open_without_auth": False,
            "accepted_default_passwords": [],
        }

    def command(self, host: str = "127.0.0.1", port: int = 6379) -> StringCommand:
        target = ["-h", QuoteString(host), "-p", QuoteString(str(port))]
        parts: list = [
            "if ! command -v redis-cli >/dev/null 2>&1; then echo '#absent'; exit 0; fi;",
            "echo ping:$(timeout 5 redis-cli --no-auth-warning",
            *target,
            "PING 2>&1 | head -c 60);",
        ]
        for password in WELL_KNOWN_PASSWORDS:
            parts += [
                f"echo {password}:$(REDISCLI_AUTH={password} timeout 5 redis-cli --no-auth-warning",
                *target,
                "PING 2>&1 | head -c 60);",
            ]
        return StringCommand(*parts)

    def process(self, output: list[str]) -> dict:
        if "#absent" in output:
            return self.default()
        answers = dict(line.split(":", 1) for line in output if ":" in line)
        ping = answers.get("ping", "")
        return {
            "installed": True,
            "reachable": "PONG" in ping or "NOAUTH" in ping or "WRONGPASS" in ping,
            "open_without_auth": "PONG" in ping,
            "accepted_default_passwords": [
                password
                for password in WELL_KNOWN_PASSWORDS
                if "PONG" in answers.get(password, "") and "PONG" not in ping
            ],
        }
