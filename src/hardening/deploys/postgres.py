"""DB-04: connection pooling with pgBouncer on the database hosts."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from hardening.deploys._common import DB_GROUPS, in_groups
from hardening.operations import pgbouncer as pgbouncer_ops
from hardening.settings import setting


@deploy("Connection pooling")
def connection_pooling() -> None:
    if not in_groups(*DB_GROUPS):
        return
    pgbouncer_ops.pooling(
        name="pgBouncer in front of PostgreSQL",
        listen_port=setting(host.data, "pgbouncer_port"),
        pool_mode=setting(host.data, "pgbouncer_pool_mode"),
        default_pool_size=setting(host.data, "pgbouncer_default_pool_size"),
        max_client_conn=setting(host.data, "pgbouncer_max_client_conn"),
    )
