"""INF-05, PRE-06, OPS-D-01/05, MON-*: Prometheus with the checklist's alert rules.

pyinfra inventories/prod.py deploys/monitoring.py
"""

from hardening.deploys.monitoring import monitoring

monitoring()
