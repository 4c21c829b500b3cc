"""SEC-08: rotate due credentials without downtime (A/B roles, dual passwords).

pyinfra inventories/prod.py deploys/rotate_credentials.py [--data rotation_force=True]
"""

from hardening.deploys.secrets import rotate_credentials

rotate_credentials()
