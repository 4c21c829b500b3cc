"""SEC-03: TLS for PostgreSQL and Redis with certificates from the internal CA.

pyinfra inventories/prod.py deploys/tls.py
"""

from hardening.deploys.tls import tls

tls()
