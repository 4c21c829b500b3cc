"""DB-01, DR-BAK-01, OPS-D-04: pgBackRest to S3 (encrypted), WAL archiving, timers, drill timer.

pyinfra inventories/prod.py deploys/backups.py
"""

from hardening.deploys.backups import backups

backups()
