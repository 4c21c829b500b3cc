"""DB-02, DR-BAK-04, OPS-M-04, DR-RTO-01: restore the latest backup into a scratch dir, verify.

pyinfra inventories/prod.py deploys/restore_drill.py [--data drill_target='2024-05-01 12:00+00']
"""

from hardening.deploys.backups import restore_drill

restore_drill()
