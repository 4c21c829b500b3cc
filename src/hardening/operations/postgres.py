"""PostgreSQL operations: no default logins, hardened server settings, pg_hba least
privilege, systemd limits, pg_stat_statements, declared indexes, the daily report timer."""

from __future__ import annotations

import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.files import File, Sha1File
from pyinfra.operations import files, systemd

from hardening.facts.postgres import (
    DAILY_REPORT_DIR,
    PG_CONF_DIR,
    PG_SERVICE,
    PG_VERSION,
    PostgresDefaultLogins,
    PostgresHbaRules,
    PostgresSettings,
    PostgresStatements,
    PostgresTableStats,
)
from hardening.operations._render import render, sha1

#: PostgreSQL TLS settings written by ``deploys/tls.py``; pg_hba uses ``hostssl`` when present.
TLS_CONF = f"{PG_CONF_DIR}/conf.d/45-hardening-tls.conf"
_AS_POSTGRES = "runuser -u postgres -- psql -XAtq"
_PG_BIN = f"/usr/lib/postgresql/{PG_VERSION}/bin"
#: Reload, then restart only when a reloaded parameter says it needs one.
_RELOAD_OR_RESTART = (
    f"{_AS_POSTGRES} -c 'SELECT pg_reload_conf()' >/dev/null && sleep 1 &&"
    f" if [ \"$({_AS_POSTGRES} -c 'SELECT count(*) FROM pg_settings WHERE pending_restart')\""
    f" != 0 ]; then systemctl restart {PG_SERVICE}; fi"
)


@operation()
def no_default_logins(port: int = 5432):
    """
    Close publicly known PostgreSQL logins.

    - ``trust`` lines in ``pg_hba.conf`` become ``peer`` (local) or
      ``scram-sha-256`` (host), then the server reloads (no restart);
    - a ``postgres`` role that accepts a well-known password loses its password
      (``PASSWORD NULL``: local peer login only).

    + port: the port the login attempts are made on (127.0.0.1)

    **Example:**

    .. code:: python

        postgres.no_default_logins(name="No default PostgreSQL logins")
    """
    hba = host.get_fact(PostgresHbaRules)
    if not hba["running"]:
        host.noop("PostgreSQL is not running here")
        return
    if any(rule["method"] == "trust" for rule in hba["rules"]):
        yield StringCommand(
            f"f=$({_AS_POSTGRES} -c 'SHOW hba_file') &&",
            "sed -i -E '/^[[:space:]]*local/ s/[[:space:]]trust[[:space:]]*$/ peer/;",
            '/^[[:space:]]*host/ s/[[:space:]]trust[[:space:]]*$/ scram-sha-256/\' "$f" &&',
            f"{_AS_POSTGRES} -c 'SELECT pg_reload_conf()' >/dev/null",
        )
    else:
        host.noop("pg_hba.conf has no trust lines")
    logins = host.get_fact(PostgresDefaultLogins, port=port)
    if any(label != "postgres without password" for label in logins["accepted"]):
        yield StringCommand(f"{_AS_POSTGRES} -c 'ALTER ROLE postgres PASSWORD NULL'")
    else:
        host.noop("postgres accepts no well-known password")


def psql(sql: str, database: str = "postgres") -> StringCommand:
    """``psql -c SQL`` as the postgres OS user (the SQL is quoted, never a secret)."""
    return StringCommand(_AS_POSTGRES, "-d", shlex.quote(database), "-c", shlex.quote(sql))


def _validate_and_swap(staged: str, path: str) -> str:
    """Shell: check ``staged`` with ``postgres -C`` on a copy of the config dir, then swap
    it in and reload (restart only for ``pending_restart`` parameters)."""
    name = path.rsplit("/", 1)[1]
    return (
        f'cd /tmp && t=$(mktemp -d) && cp -a {PG_CONF_DIR}/. "$t"/'
        f' && cp {staged} "$t/conf.d/{name}" && chown -R postgres "$t"'
        f' && if ! out=$(runuser -u postgres -- {_PG_BIN}/postgres -D "$t" -C port 2>&1);'
        f' then rm -rf "$t"; echo "refusing invalid PostgreSQL settings: $out" >&2; exit 1; fi;'
        f' rm -rf "$t" && mv {staged} {path} && {_RELOAD_OR_RESTART}'
    )


def _changed(path: str, content: str) -> bool:
    return host.get_fact(Sha1File, path=path) != sha1(content)


@operation()
def server_settings(content: str, path: str = f"{PG_CONF_DIR}/conf.d/40-hardening.conf"):
    """
    Install a ``conf.d`` file of server settings, validated before it is swapped in.

    The staged file is checked by starting ``postgres -C`` on a copy of the
    configuration directory that contains it (invalid values fail there, before the
    live file changes); then the server reloads, and restarts only when a changed
    parameter is ``pending_restart``.

    + content: the file's text (e.g. rendered ``postgresql-hardening.conf.j2``)
    + path: the conf.d file

    **Example:**

    .. code:: python

        postgres.server_settings(name="Hardened settings", content="log_connections = on\\n")
    """
    pending = host.get_fact(PostgresSettings)["pending_restart"]
    if _changed(path, content):
        staged = f"{path}.staged"
        yield from files.put._inner(
            src=StringIO(content), dest=staged, user="postgres", group="postgres", mode="0644"
        )
        yield StringCommand(_validate_and_swap(staged, path))
    elif pending:
        yield StringCommand(f"systemctl restart {PG_SERVICE}")
    else:
        host.noop(f"{path} is up to date and no setting waits for a restart")


@operation()
def hba(
    replica_addresses: list[str] | tuple[str, ...] = (),
    client_networks: list[str] | tuple[str, ...] = (),
    replication_role: str = "replicator",
    path: str = f"{PG_CONF_DIR}/pg_hba.conf",
    tls: bool | None = None,
):
    """
    pg_hba.conf with least privilege: local peer, scram over TCP from localhost and the
    declared client networks, replication only from the standbys, reject everything else.

    The previous file is restored when the server reports errors in the new one.

    + replica_addresses: IP addresses of the standbys (replication logins)
    + client_networks: CIDR networks whose clients may log in with scram-sha-256
    + replication_role: the role standbys log in as
    + tls: ``hostssl`` (TLS only) instead of ``host`` for remote addresses; ``None``: when
      the server has the TLS settings of ``deploys/tls.py`` (``conf.d/45-hardening-tls.conf``)

    **Example:**

    .. code:: python

        postgres.hba(name="pg_hba least privilege", replica_addresses=["10.0.0.12"])
    """
    content = render(
        "pg_hba.conf.j2",
        replica_addresses=[_host_cidr(a) for a in replica_addresses],
        client_networks=list(client_networks),
        replication_role=replication_role,
        tls=bool(host.get_fact(File, path=TLS_CONF)) if tls is None else tls,
    )
    if not _changed(path, content):
        host.noop("pg_hba.conf is up to date")
        return
    yield from files.put._inner(
        src=StringIO(content),
        dest=f"{path}.staged",
        user="postgres",
        group="postgres",
        mode="0640",
    )
    yield StringCommand(
        f'cp -a {path} {path}.previous && mv {path}.staged {path} && if [ "$({_AS_POSTGRES}',
        "-c 'SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL')\" != 0 ]; then",
        f"mv {path}.previous {path}; echo 'new pg_hba.conf has errors: kept the old one' >&2;",
        f"exit 1; fi; {_AS_POSTGRES} -c 'SELECT pg_reload_conf()' >/dev/null",
    )


def _host_cidr(address: str) -> str:
    return address if "/" in address else f"{address}/{128 if ':' in address else 32}"


@operation()
def service_limits(limit_nofile: int = 65536, memory_max: str = ""):
    """
    systemd drop-in for the cluster's unit: ``LimitNOFILE`` and, when given, ``MemoryMax``.
    A changed drop-in takes effect at the next restart of the cluster (no forced restart).

    **Example:**

    .. code:: python

        postgres.service_limits(name="PostgreSQL limits", limit_nofile=65536, memory_max="8G")
    """
    path = f"/etc/systemd/system/{PG_SERVICE}.service.d/hardening-limits.conf"
    content = render(
        "postgresql-limits.conf.j2", limit_nofile=int(limit_nofile), memory_max=memory_max
    )
    if not _changed(path, content):
        host.noop("PostgreSQL systemd limits are up to date")
        return
    yield from files.directory._inner(path=path.rsplit("/", 1)[0])
    yield from files.put._inner(src=StringIO(content), dest=path, mode="0644")
    yield "systemctl daemon-reload"


@operation()
def pg_stat_statements(database: str = "postgres"):
    """
    ``CREATE EXTENSION pg_stat_statements`` once the library is preloaded.

    **Example:**

    .. code:: python

        postgres.pg_stat_statements(name="Query statistics")
    """
    fact = host.get_fact(PostgresStatements)
    if not fact["running"]:
        raise OperationError("PostgreSQL is not running: cannot create pg_stat_statements")
    if fact["extension"] == "missing":
        yield psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", database)
    else:
        host.noop("pg_stat_statements exists")


@operation()
def indexes(declared: list[dict] | tuple[dict, ...] = ()):
    """
    Create the declared indexes that do not exist yet, without blocking writes
    (``CREATE INDEX CONCURRENTLY IF NOT EXISTS``).

    + declared: ``[{"table": "public.orders", "columns": ["customer_id"],
      "name": "orders_customer_id_idx", "database": "app"}]`` (database defaults to postgres)

    **Example:**

    .. code:: python

        postgres.indexes(name="Declared indexes", declared=[{"table": "orders",
                         "columns": ["customer_id"], "name": "orders_customer_idx"}])
    """
    existing = {
        (table["database"], name)
        for table in host.get_fact(PostgresTableStats)["tables"]
        for name in table["indexes"]
    }
    for index in declared:
        database = index.get("database", "postgres")
        if (database, index["name"]) in existing:
            host.noop(f"index {index['name']} exists")
            continue
        columns = ", ".join(_ident(column) for column in index["columns"])
        table = ".".join(_ident(part) for part in index["table"].split("."))
        name = _ident(index["name"])
        yield psql(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} ({columns})", database
        )


def _ident(name: str) -> str:
    """A SQL identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


@operation()
def timer(
    unit: str,
    description: str,
    exec_start: str,
    user: str = "postgres",
    interval: str = "",
    on_calendar: str = "",
    run_now: bool = False,
):
    """
    A oneshot service with its systemd timer (every ``interval`` or at ``on_calendar``),
    enabled and started; ``run_now`` also runs the service once when the unit is new.

    **Example:**

    .. code:: python

        postgres.timer(name="Heartbeat", unit="hardening-pg-heartbeat",
                       description="heartbeat", exec_start="/bin/true", interval="10s")
    """
    service = render(
        "hardening-timer.service.j2",
        description=description,
        after=f"{PG_SERVICE}.service",
        user=user,
        exec_start=exec_start,
    )
    timer_text = render(
        "hardening.timer.j2",
        description=description,
        interval=interval,
        on_calendar=on_calendar,
        randomized_delay=0,
        unit="",
    )
    base = f"/etc/systemd/system/{unit}"
    changed = _changed(f"{base}.service", service) or _changed(f"{base}.timer", timer_text)
    yield from files.put._inner(src=StringIO(service), dest=f"{base}.service", mode="0644")
    yield from files.put._inner(src=StringIO(timer_text), dest=f"{base}.timer", mode="0644")
    yield from systemd.service._inner(
        f"{unit}.timer", running=True, enabled=True, daemon_reload=changed, restarted=changed
    )
    if changed and run_now:
        yield f"systemctl start {unit}.service"


@operation()
def daily_report(on_calendar: str = "*-*-* 06:15"):
    """
    OPS-D-03: a daily timer writing ``/var/lib/hardening/postgres/daily-<date>.json``
    (top statements by mean time, connections, cache hit ratio); runs once when installed.

    **Example:**

    .. code:: python

        postgres.daily_report(name="Daily PostgreSQL report", on_calendar="*-*-* 06:15")
    """
    sql = "/usr/local/lib/hardening/pg-daily-report.sql"
    yield from files.directory._inner(path="/usr/local/lib/hardening")
    yield from files.directory._inner(
        path=DAILY_REPORT_DIR, user="postgres", group="postgres", mode="0750"
    )
    yield from files.put._inner(
        src=StringIO(render("pg-daily-report.sql.j2")), dest=sql, mode="0644"
    )
    yield from timer._inner(
        unit="hardening-pg-daily",
        description="hardening: daily PostgreSQL performance report",
        exec_start=(
            f"/bin/sh -c 'psql -XAtq -d postgres -f {sql} > {DAILY_REPORT_DIR}/.daily.tmp"
            f" && mv {DAILY_REPORT_DIR}/.daily.tmp {DAILY_REPORT_DIR}/daily-$(date +%%F).json'"
        ),
        on_calendar=on_calendar,
        run_now=True,
    )
