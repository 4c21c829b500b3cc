"""Host-wide facts. Installed as ``hardening.facts.host``."""

from __future__ import annotations

from pyinfra.api import FactBase


class Virtualization(FactBase):
    """
    Container / VM detection from ``systemd-detect-virt``.

    .. code:: python

        {"container": "lxc", "vm": "none"}
    """

    @staticmethod
    def default() -> dict:
        return {"container": "none", "vm": "none"}

    def command(self) -> str:
        return (
            "echo container:$(systemd-detect-virt -c 2>/dev/null || true);"
            "echo vm:$(systemd-detect-virt -v 2>/dev/null || true)"
        )

    def process(self, output: list[str]) -> dict:
        fact = self.default()
        for line in output:
            key, _, value = line.partition(":")
            if key in fact and value:
                fact[key] = value
        return fact
