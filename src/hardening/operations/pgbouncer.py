"""pgBouncer operations: connection pooling in front of PostgreSQL."""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.files import Sha1File
from pyinfra.operations import files, systemd

from hardening.operations._render import render, sha1


@operation()
def pooling(
    listen_addr: str = "127.0.0.1",
    listen_port: int = 6432,
    pool_mode: str = "transaction",
    default_pool_size: int = 20,
    max_client_conn: int = 500,
    server_host: str = "127.0.0.1",
    server_port: int = 5432,
    path: str = "/etc/pgbouncer/pgbouncer.ini",
):
    """
    Configure and run pgBouncer; reload (not restart) it when the file changes.

    + listen_addr / listen_port: where clients connect
    + pool_mode: session, transaction or statement
    + default_pool_size / max_client_conn: pool sizes
    + server_host / server_port: the PostgreSQL server behind the pool

    **Example:**

    .. code:: python

        pgbouncer.pooling(name="pgBouncer in transaction mode", pool_mode="transaction")
    """
    if pool_mode not in ("session", "transaction", "statement"):
        raise ValueError(f"pool_mode must be session, transaction or statement, not {pool_mode!r}")
    content = render(
        "pgbouncer.ini.j2",
        listen_addr=listen_addr,
        listen_port=int(listen_port),
        pool_mode=pool_mode,
        default_pool_size=int(default_pool_size),
        max_client_conn=int(max_client_conn),
        server_host=server_host,
        server_port=int(server_port),
    )
    changed = host.get_fact(Sha1File, path=path) != sha1(content)
    yield from files.put._inner(
        src=StringIO(content), dest=path, user="postgres", group="postgres", mode="0640"
    )
    yield from systemd.service._inner("pgbouncer", running=True, enabled=True, reloaded=changed)
