"""Deployment day: one phase of a release (PRE-03..07, DEP-01..06, POST-01..07, STAB-01..05).

pyinfra inventories/prod.py deploys/release.py --data deployday_release=v2
"""

from hardening.deploys.release import release

release()
