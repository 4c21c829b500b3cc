"""DB-04: pgBouncer connection pooling in front of PostgreSQL.

pyinfra inventories/prod.py deploys/postgres.py
"""

from hardening.deploys import connection_pooling

connection_pooling()
