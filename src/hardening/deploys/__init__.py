"""Deploys: operations composed per concern, reading their knobs from inventory data.

One module per component; the scripts in ``deploys/`` only call these, so that a
user's own deploy can do the same::

    from hardening.deploys import firewall, default_passwords
    firewall()
    default_passwords()

Each deploy acts only where it applies (by inventory group or by what is
installed) and reads its settings through ``hardening.settings`` so every default
is documented there. ``harden()`` composes them in order.
"""

from __future__ import annotations

from pyinfra.api import deploy

from hardening.deploys.firewall import firewall
from hardening.deploys.postgres import connection_pooling
from hardening.deploys.secrets import default_passwords

__all__ = ["connection_pooling", "default_passwords", "firewall", "harden"]


@deploy("Harden: every enforceable checklist item that exists so far")
def harden() -> None:
    default_passwords()
    connection_pooling()
    # last: the ruleset is checked against what the services above listen on
    firewall()
