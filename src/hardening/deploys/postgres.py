"""PostgreSQL: hardening (DB-05, DB-07, DB-08), pooling (DB-04), indexes (DB-06),
streaming replication (DB-03), the daily report (OPS-D-03, OPS-W-05) and the failover runbook.

With ``postgres_tls`` (and ``pgbouncer_tls``) pgBouncer gets a certificate of the internal CA
and refuses plaintext TCP clients, and reaches PostgreSQL with ``verify-full``; standbys stream
with ``sslmode=verify-full``. Both decide when they run whether the server offers a
certificate of the CA, so PostgreSQL's own TLS (``deploys/tls.py``) must come first.

Order in ``harden()``: ``postgres_hardening``, ``tls``, ``connection_pooling``,
``replication``, ``postgres_monitoring`` (the standby must be rebuilt before its report runs).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError

from hardening.deploys._common import DB_GROUPS, in_groups
from hardening.facts.postgres import REPLICATION_ROLE, PostgresServiceLimits
from hardening.operations import pgbouncer as pgbouncer_ops
from hardening.operations import postgres as postgres_ops
from hardening.operations import postgres_replication as replication_ops
from hardening.operations._render import render
from hardening.operations.pgbouncer import RELOAD
from hardening.operations.tls import CA_PATH, TLS_DIR
from hardening.settings import setting

PGBOUNCER_CERT, PGBOUNCER_KEY = f"{TLS_DIR}/pgbouncer.crt", f"{TLS_DIR}/pgbouncer.key"


def _address(inventory_host) -> str:  # noqa: ANN001 - a pyinfra Host
    """The address other hosts reach ``inventory_host`` at (its SSH hostname)."""
    return inventory_host.data.get("ssh_hostname") or inventory_host.name


def _db_hosts(group: str) -> list:
    return list(host.inventory.get_group(group, []))


def _the_primary():  # noqa: ANN202 - a pyinfra Host or None
    primaries = _db_hosts("db_primary")
    if len(primaries) > 1:
        names = ", ".join(h.name for h in primaries)
        raise DeployError(f"the inventory has {len(primaries)} primaries ({names}): keep one")
    return primaries[0] if primaries else None


def listen_addresses() -> list[str]:
    """``postgres_listen_addresses``, else localhost plus this host's address when the
    inventory has replicas or client networks."""
    declared = setting(host.data, "postgres_listen_addresses")
    if declared:
        return list(declared)
    networked = _db_hosts("db_replica") or setting(host.data, "postgres_client_networks")
    return ["localhost", _address(host)] if networked else ["localhost"]


def shared_buffers_mb() -> int:
    """``postgres_shared_buffers_percent`` of the host's memory, capped, at least 128 MB."""
    memory_mb = host.get_fact(PostgresServiceLimits)["memory_kb"] // 1024
    share = memory_mb * setting(host.data, "postgres_shared_buffers_percent") // 100
    return max(128, min(share, setting(host.data, "postgres_shared_buffers_max_mb")))


def least_privilege_hba(name: str, tls: bool | None = None) -> None:
    """``postgres_ops.hba`` for this host: replication from the other database hosts,
    logins from ``postgres_client_networks``; ``tls`` as in the operation (also used by
    ``deploys/tls.py`` for ``hostssl``)."""
    postgres_ops.hba(
        name=name,
        replica_addresses=[
            _address(h)
            for h in _db_hosts("db_replica") + _db_hosts("db_primary")
            if h.name != host.name
        ],
        client_networks=setting(host.data, "postgres_client_networks"),
        replication_role=REPLICATION_ROLE,
        tls=tls,
    )


@deploy("PostgreSQL hardening")
def postgres_hardening() -> None:
    if not in_groups(*DB_GROUPS):
        return
    postgres_ops.service_limits(
        name="PostgreSQL systemd limits",
        limit_nofile=setting(host.data, "postgres_limit_nofile"),
        memory_max=setting(host.data, "postgres_memory_max"),
    )
    postgres_ops.server_settings(
        name="PostgreSQL settings (conf.d/40-hardening.conf)",
        content=render(
            "postgresql-hardening.conf.j2",
            listen_addresses=listen_addresses(),
            log_min_duration_ms=setting(host.data, "postgres_log_min_duration_ms"),
            max_connections=setting(host.data, "postgres_max_connections"),
            statement_timeout_ms=setting(host.data, "postgres_statement_timeout_ms"),
            idle_in_transaction_timeout_ms=setting(
                host.data, "postgres_idle_in_transaction_timeout_ms"
            ),
            work_mem_mb=setting(host.data, "postgres_work_mem_mb"),
            shared_buffers_mb=shared_buffers_mb(),
            max_slot_wal_keep_size_mb=setting(host.data, "postgres_max_slot_wal_keep_size_mb"),
        ),
    )
    least_privilege_hba(name="pg_hba.conf least privilege")
    if in_groups("db_primary"):
        postgres_ops.pg_stat_statements(name="pg_stat_statements extension")
        postgres_ops.indexes(
            name="Declared indexes", declared=setting(host.data, "postgres_indexes")
        )


def pgbouncer_listen_addresses() -> list[str]:
    """``pgbouncer_listen_addresses``, else 127.0.0.1 plus this host's address when the
    inventory declares ``postgres_client_networks``."""
    declared = setting(host.data, "pgbouncer_listen_addresses")
    if declared:
        return list(declared)
    networked = setting(host.data, "postgres_client_networks")
    return ["127.0.0.1", _address(host)] if networked else ["127.0.0.1"]


def _pgbouncer_tls() -> dict[str, str]:
    """pgBouncer's certificate from the internal CA (issued or renewed here) and the TLS
    arguments of ``pgbouncer_ops.pooling``; empty when ``pgbouncer_tls`` or ``postgres_tls``
    is off."""
    if not (setting(host.data, "pgbouncer_tls") and setting(host.data, "postgres_tls")):
        return {}
    from hardening.deploys.tls import certificate, trusted_ca  # it imports this module

    certificate(trusted_ca(), PGBOUNCER_CERT, PGBOUNCER_KEY, "postgres", RELOAD)
    return {
        "tls_cert_file": PGBOUNCER_CERT,
        "tls_key_file": PGBOUNCER_KEY,
        "tls_ca_file": CA_PATH,
        "client_tls_sslmode": setting(host.data, "pgbouncer_client_tls_sslmode"),
    }


def _pooling(server_host: str = "127.0.0.1") -> None:
    pgbouncer_ops.pooling(
        name="pgBouncer in front of PostgreSQL",
        listen_addr=",".join(pgbouncer_listen_addresses()),
        listen_port=setting(host.data, "pgbouncer_port"),
        pool_mode=setting(host.data, "pgbouncer_pool_mode"),
        default_pool_size=setting(host.data, "pgbouncer_default_pool_size"),
        max_client_conn=setting(host.data, "pgbouncer_max_client_conn"),
        server_host=server_host,
        **_pgbouncer_tls(),
    )


@deploy("Connection pooling")
def connection_pooling() -> None:
    if not in_groups(*DB_GROUPS):
        return
    _pooling()


@deploy("Streaming replication")
def replication() -> None:
    primary = _the_primary()
    replicas = _db_hosts("db_replica")
    if primary is None or not replicas:
        return
    if host.name == primary.name:
        replication_ops.primary(
            name="Replication primary: role, slots, heartbeat",
            standbys=[h.name for h in replicas],
        )
    elif in_groups("db_replica"):
        replication_ops.standby(
            name=f"Streaming standby of {primary.name}",
            primary_name=primary.name,
            primary_address=_address(primary),
            ca_file=CA_PATH if setting(host.data, "postgres_tls") else "",
        )


@deploy("PostgreSQL monitoring")
def postgres_monitoring() -> None:
    if not in_groups(*DB_GROUPS):
        return
    postgres_ops.daily_report(
        name="Daily PostgreSQL performance report",
        on_calendar=f"*-*-* {setting(host.data, 'postgres_daily_report_time')}",
    )


@deploy("PostgreSQL: everything of issue 7 this module enforces")
def postgres() -> None:
    postgres_hardening()
    connection_pooling()
    replication()
    postgres_monitoring()


@deploy("Failover: promote the standby, repoint pgBouncer, fence the old primary")
def failover() -> None:
    primary = _the_primary()
    replicas = _db_hosts("db_replica")
    if primary is None or not replicas:
        raise DeployError("failover needs a db_primary and a db_replica host in the inventory")
    new_primary = replicas[0]
    if host.name == primary.name:
        replication_ops.fence(name="Fence the old primary")
        _pooling(server_host=_address(new_primary))
    elif host.name == new_primary.name:
        replication_ops.promote(name="Promote the standby")
