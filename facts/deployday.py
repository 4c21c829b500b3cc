"""Facts about deploy-day runs: the last record of gates and the 24-48 h watch samples.

Installed as ``hardening.facts.deployday``. Both read JSON files written on the host by
``hardening-deployday`` (see ``hardening.operations.deployday``); they hold statuses,
times, counts and release names, never a secret.
"""

from __future__ import annotations

import json

from pyinfra.api import FactBase, StringCommand
from pyinfra.api.command import QuoteString

STATE_DIR = "/var/lib/hardening/deployday"


class _JsonFile(FactBase):
    """A JSON document from a file under ``STATE_DIR``; ``None`` when absent or unreadable."""

    default = dict
    filename = ""

    def command(self) -> StringCommand:
        path = QuoteString(f"{STATE_DIR}/{self.filename}")
        return StringCommand("cat", path, "2>/dev/null || echo '#absent'")

    def process(self, output: list[str]) -> dict | None:
        if output == ["#absent"]:
            return None
        try:
            value = json.loads("\n".join(output))
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


class DeployDayRecord(_JsonFile):
    """
    The last deploy-day record of this host (``last.json``), ``None`` when none was run.

    .. code:: python

        {
            "schema": 1, "release": "v2", "previous": "/opt/app/releases/v1",
            "started": "2026-11-27T17:00:00Z", "finished": "2026-11-27T17:03:00Z",
            "result": "success",  # or "running", "failed", "rolled_back"
            "gates": {"backend_health": {"status": "pass", "detail": "...",
                                         "at": "2026-11-27T17:01:00Z"}},
        }
    """

    filename = "last.json"


class DeployDayWatch(_JsonFile):
    """
    Samples of the post-deployment watch (``watch.json``), ``None`` when none was taken.

    .. code:: python

        {
            "release": "v2", "since": "2026-11-27T17:03:00Z",
            "samples": [{"at": "...", "failed_units": [], "restarts": 0, "error_lines": 0,
                         "rss_kib": 10240, "row_counts": {"postgres/items": 10},
                         "baseline_row_counts": {"postgres/items": 10},
                         "prometheus_up": 4.0}],
        }
    """

    filename = "watch.json"
