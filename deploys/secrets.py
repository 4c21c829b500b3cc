"""SEC-01, SEC-10: default credentials replaced, generated into the secrets backend.

pyinfra inventories/prod.py deploys/secrets.py
"""

from hardening.deploys.secrets import default_passwords

default_passwords()
