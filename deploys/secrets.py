"""SEC-01: replace default PostgreSQL and Redis credentials.

pyinfra inventories/prod.py deploys/secrets.py
"""

from hardening.deploys import default_passwords

default_passwords()
