"""INF-06, DR-BAK-02/03, DR-RPO-02, OPS-D-02: central logs, error review, config backups.

pyinfra inventories/prod.py deploys/logs.py
"""

from hardening.deploys.logs import logs

logs()
