"""Runbook "performance degradation" (DR-RUN-04): capture diagnostics on every host into
/var/lib/hardening/diagnostics/<timestamp>/ (changes nothing else).

pyinfra inventories/prod.py deploys/diagnostics.py
"""

from hardening.deploys.runbooks import diagnostics

diagnostics()
