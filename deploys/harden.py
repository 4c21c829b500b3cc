"""Apply every enforceable checklist item, in order (firewall last, so the
ports opened by services are already known when the ruleset is checked).

    pyinfra inventories/prod.py deploys/harden.py          # apply
    pyinfra inventories/prod.py deploys/harden.py --dry    # show what would change
"""

from hardening.deploys import harden

harden()
