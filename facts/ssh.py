"""SSH server facts: the effective sshd configuration, weak moduli and host keys.

Installed as ``hardening.facts.ssh``.
"""

from __future__ import annotations

from pyinfra.api import FactBase


class SshdState(FactBase):
    """
    What ``sshd -T`` says it runs with, plus Diffie-Hellman moduli and host key files.

    .. code:: python

        {
            "installed": True,
            "config": {"passwordauthentication": "no", "maxauthtries": "3", ...},
            "small_moduli": 0,  # /etc/ssh/moduli entries under 3071 bits
            "host_keys": ["ed25519", "rsa"],
        }

    Keys of ``config`` are lower case as ``sshd -T`` prints them; repeated keywords
    (``hostkey``) are joined with spaces.
    """

    @staticmethod
    def default() -> dict:
        return {"installed": False, "config": {}, "small_moduli": 0, "host_keys": []}

    def command(self) -> str:
        return (
            "if ! command -v sshd >/dev/null 2>&1; then echo '#absent'; exit 0; fi; "
            "echo \"#moduli $(awk '$1 !~ /^#/ && $5 < 3071' /etc/ssh/moduli 2>/dev/null"
            ' | wc -l)"; '
            'for key in /etc/ssh/ssh_host_*_key; do [ -f "$key" ] && echo "#hostkey $key"; '
            "done; sshd -T 2>&1"
        )

    def process(self, output: list[str]) -> dict:
        fact = self.default()
        if output and output[0] == "#absent":
            return fact
        fact["installed"] = True
        config: dict[str, str] = {}
        for line in output:
            keyword, _, value = line.strip().partition(" ")
            if keyword == "#moduli":
                fact["small_moduli"] = int(value or 0)
            elif keyword == "#hostkey":
                fact["host_keys"].append(value.rsplit("ssh_host_", 1)[-1].removesuffix("_key"))
            elif keyword and not keyword.startswith("#"):
                config[keyword] = f"{config[keyword]} {value}" if keyword in config else value
        fact["config"] = config
        return fact
