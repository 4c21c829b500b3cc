"""DB-03..DB-08, DEP-07, OPS-D-03, OPS-W-05: PostgreSQL hardening, pooling, replication.

pyinfra inventories/prod.py deploys/postgres.py
"""

from hardening.deploys.postgres import postgres

postgres()
