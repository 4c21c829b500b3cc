"""Runbook "security incident" (DR-RUN-05): evidence tarball, then isolate the host (only SSH
from the operator). Then rotate credentials: deploys/rotate_credentials.py.

pyinfra inventories/prod.py deploys/incident.py --limit HOST
"""

from hardening.deploys.runbooks import incident

incident()
