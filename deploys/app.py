"""The reference application on web hosts (APP-*, FE-*, PERF-* are proven against it) and
SEC-02: a strong JWT secret generated on the host.

pyinfra inventories/prod.py deploys/app.py
"""

from hardening.deploys.app import app

app()
