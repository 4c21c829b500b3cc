"""Security incident response (DR-RUN-05): evidence capture into a 0600 tarball.

Isolation reuses ``hardening.operations.firewall.ruleset`` (see ``deploys/incident.py``).
"""

from __future__ import annotations

import time

from pyinfra.api import operation

from hardening.operations._render import render

EVIDENCE_DIR = "/var/lib/hardening/incident"


@operation(is_idempotent=False)
def capture_evidence(label: str = "", root: str = EVIDENCE_DIR):
    """
    Capture processes, sockets, logins, recent auth logs and the firewall ruleset into
    ``root/evidence-<label>.tar.gz`` (mode 0600, directory 0700).

    **Example:**

    .. code:: python

        incident.capture_evidence(name="Capture evidence")
    """
    label = label or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    yield render(
        "runbooks/incident-evidence.sh.j2",
        directory=root,
        tarball=f"{root}/evidence-{label}.tar.gz",
    )
