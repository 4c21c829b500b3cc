"""Runbook "database failover": fence the db_primary, promote the first db_replica,
repoint pgBouncer. Afterwards swap the two hosts' groups in the inventory.

pyinfra inventories/prod.py deploys/failover.py
"""

from hardening.deploys.postgres import failover

failover()
