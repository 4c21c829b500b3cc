"""Performance degradation response (DR-RUN-04): capture diagnostics, change nothing else."""

from __future__ import annotations

import time

from pyinfra.api import operation

from hardening.operations._render import render

DIAGNOSTICS_DIR = "/var/lib/hardening/diagnostics"


@operation(is_idempotent=False)
def capture(label: str = "", root: str = DIAGNOSTICS_DIR):
    """
    Capture load, memory, disk, top processes, sockets, ``pg_stat_activity``, slow statements,
    nginx status and recent warnings into ``root/<label>/`` (0700; label: UTC timestamp).

    **Example:**

    .. code:: python

        diagnostics.capture(name="Capture diagnostics", label="20240501T120000Z")
    """
    label = label or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    yield render("runbooks/diagnostics.sh.j2", directory=f"{root}/{label}")
