"""nftables facts: the live ruleset.

Installed as ``hardening.facts.nftables``.
"""

from __future__ import annotations

import json

from pyinfra.api import FactBase


class NftablesRuleset(FactBase):
    """
    The live ruleset as nftables' JSON (``nft -j list ruleset``), split by kind.

    .. code:: python

        {
            "available": True,
            "tables": [{"family": "inet", "name": "hardening"}],
            "chains": [{"family": "inet", "table": "hardening", "name": "input",
                        "hook": "input", "policy": "drop", "prio": 0, "type": "filter"}],
            "rules": [{"family": "inet", "table": "hardening", "chain": "input",
                       "expr": [...]}],
        }

    ``available`` is False when ``nft`` is not installed.
    """

    @staticmethod
    def default() -> dict:
        return {"available": False, "tables": [], "chains": [], "rules": []}

    def requires_command(self) -> str:
        return "nft"

    def command(self) -> str:
        return "nft -j list ruleset"

    def process(self, output: list[str]) -> dict:
        document = json.loads("\n".join(output) or "{}")
        ruleset: dict = {"available": True, "tables": [], "chains": [], "rules": []}
        for entry in document.get("nftables", []):
            for kind in ("table", "chain", "rule"):
                if kind in entry:
                    ruleset[kind + "s"].append(entry[kind])
        return ruleset
