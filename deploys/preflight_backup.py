"""PRE-02: a fresh full backup of every database host before a deployment.

pyinfra inventories/prod.py deploys/preflight_backup.py
"""

from hardening.deploys.backups import preflight_backup

preflight_backup()
