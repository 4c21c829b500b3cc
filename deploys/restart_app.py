"""Runbook "application restart" (DR-RUN-02, DR-RTO-02): one web host at a time, each gated
on the app's /healthz; records the measured recovery time.

pyinfra inventories/prod.py deploys/restart_app.py
"""

from hardening.deploys.runbooks import restart_app

restart_app()
