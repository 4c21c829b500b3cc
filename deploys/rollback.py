"""Roll back a release to the snapshot taken in its pre-flight (PRE-04).

pyinfra inventories/prod.py deploys/rollback.py --data deployday_release=v2
"""

from hardening.deploys.release import rollback

rollback()
