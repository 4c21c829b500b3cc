"""Streaming replication (DB-03): replication role and slots on the primary, a standby
built with ``pg_basebackup -R -S``, a heartbeat, and the failover steps.

The replication password is generated on the primary (``/dev/urandom``) into a 0600 file
and reaches the standby's ``~postgres/.pgpass`` (0600) through pyinfra in memory: it is
never on a command line, in pyinfra's output or in the server log. With the hardening CA, the
standby verifies the primary's certificate (``sslmode=verify-full``), its base backup included.
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.api.exceptions import OperationError

from hardening.facts.postgres import (
    PG_DATA,
    PG_SERVICE,
    PG_VERSION,
    PGPASS_FILE,
    REPLICATION_PASSWORD_FILE,
    REPLICATION_ROLE,
    PostgresReplication,
    PostgresReplicationTls,
    PostgresTlsProbe,
)
from hardening.operations.postgres import psql, timer

_HEARTBEAT_SQL = (
    "INSERT INTO hardening.heartbeat VALUES (1, now())"
    " ON CONFLICT (id) DO UPDATE SET ts = excluded.ts"
)
#: Session settings so that the ALTER ROLE ... PASSWORD statement is never logged or tracked.
_QUIET_SESSION = (
    "SET pg_stat_statements.track_utility = off; SET log_min_duration_statement = -1;"
    " SET log_statement = 'none'; SET log_min_error_statement = panic;"
)
FENCE_MARKER = "/etc/hardening/postgres-fenced"


def primary_conninfo(address: str, port: int = 5432, ca_file: str = "") -> str:
    """A standby's ``primary_conninfo`` (the password stays in ``.pgpass``); with ``ca_file``
    the primary's certificate is verified against it, name included (``verify-full``).

    >>> primary_conninfo("10.0.0.11", ca_file="/ca.crt").split()[-2:]
    ['sslmode=verify-full', 'sslrootcert=/ca.crt']
    """
    conninfo = f"host={address} port={int(port)} user={REPLICATION_ROLE} passfile={PGPASS_FILE}"
    return f"{conninfo} sslmode=verify-full sslrootcert={ca_file}" if ca_file else conninfo


def slot_name(host_name: str) -> str:
    """A physical replication slot name for a standby (``db-2.example`` -> ``db_2_example``)."""
    return "".join(c if c.isalnum() else "_" for c in host_name.lower())[:63]


@operation()
def primary(standbys: list[str] | tuple[str, ...] = ()):
    """
    Prepare the primary: replication role with a password generated on this host, one
    physical slot per standby, the ``hardening.heartbeat`` table and its 10 s timer.

    + standbys: inventory names of the standbys (one slot each, see ``slot_name``)

    **Example:**

    .. code:: python

        postgres_replication.primary(name="Replication primary", standbys=["db2"])
    """
    fact = host.get_fact(PostgresReplication)
    if not fact["running"]:
        raise OperationError("PostgreSQL is not running on the primary")
    if fact["in_recovery"]:
        raise OperationError(
            f"{host.name} is in recovery (a standby) but the inventory puts it in db_primary: "
            "fix the inventory (two primaries?) or run deploys/failover.py"
        )
    if not fact["password_file"]:
        yield StringCommand(
            f"umask 077 && head -c 48 /dev/urandom | base64 | tr -dc A-Za-z0-9 | head -c 40"
            f" > {REPLICATION_PASSWORD_FILE}.new && chown postgres:postgres"
            f" {REPLICATION_PASSWORD_FILE}.new && mv {REPLICATION_PASSWORD_FILE}.new"
            f" {REPLICATION_PASSWORD_FILE}"
        )
    if not fact["role"] or not fact["password_file"]:
        # printf is a shell builtin: the password reaches psql on stdin, not in any argv
        yield StringCommand(
            f'{{ echo "{_QUIET_SESSION}";'
            f" echo \"SELECT 'CREATE ROLE {REPLICATION_ROLE}' WHERE NOT EXISTS (SELECT FROM"
            f" pg_roles WHERE rolname = '{REPLICATION_ROLE}') \\gexec\";"
            f" printf \"ALTER ROLE {REPLICATION_ROLE} WITH REPLICATION LOGIN PASSWORD '%s';\\n\""
            f' "$(cat {REPLICATION_PASSWORD_FILE})"; }}'
            " | runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 >/dev/null"
        )
    else:
        host.noop(f"replication role {REPLICATION_ROLE} exists")
    slots = {slot["name"] for slot in fact["slots"]}
    for standby in standbys:
        if slot_name(standby) in slots:
            host.noop(f"replication slot {slot_name(standby)} exists")
        else:
            yield psql(f"SELECT pg_create_physical_replication_slot('{slot_name(standby)}')")
    if fact["heartbeat_age_s"] is None:
        yield psql(
            "CREATE SCHEMA IF NOT EXISTS hardening; CREATE TABLE IF NOT EXISTS"
            " hardening.heartbeat (id int PRIMARY KEY, ts timestamptz NOT NULL);"
            f" {_HEARTBEAT_SQL}"
        )
    yield from heartbeat._inner()


@operation()
def heartbeat(interval: str = "10s"):
    """
    A systemd timer on the primary that writes ``hardening.heartbeat`` every ``interval``;
    standbys read its age to prove that changes arrive.

    **Example:**

    .. code:: python

        postgres_replication.heartbeat(name="Replication heartbeat", interval="10s")
    """
    yield from timer._inner(
        unit="hardening-pg-heartbeat",
        description="hardening: PostgreSQL replication heartbeat",
        exec_start=f'/usr/bin/psql -XAtq -d postgres -c "{_HEARTBEAT_SQL}"',
        interval=interval,
    )


def _copy_password(state, host, primary_name: str, primary_address: str, port: int) -> None:  # noqa: ANN001
    """Read the password file on the primary and write this host's .pgpass, in memory only."""
    primary_host = state.inventory.get_host(primary_name)
    if not primary_host.connected:
        primary_host.connect(raise_exceptions=True)
    ok, output = primary_host.run_shell_command(
        StringCommand("cat", REPLICATION_PASSWORD_FILE), print_output=False, print_input=False
    )
    password = output.stdout.strip()
    if not ok or not password:
        raise OperationError(f"cannot read the replication password on {primary_name}")
    line = f"{primary_address}:{port}:replication:{REPLICATION_ROLE}:{password}\n"
    ok, _ = host.run_shell_command(
        StringCommand(f"umask 077 && touch {PGPASS_FILE} && chown postgres: {PGPASS_FILE}"),
        print_output=False,
    )
    if not ok or not host.put_file(StringIO(line), PGPASS_FILE, print_output=False):
        raise OperationError(f"cannot write {PGPASS_FILE}")
    host.run_shell_command(
        StringCommand(f"chown postgres: {PGPASS_FILE} && chmod 600 {PGPASS_FILE}")
    )


@operation()
def standby(primary_name: str, primary_address: str, port: int = 5432, ca_file: str = ""):
    """
    Make this host a streaming standby of ``primary_address``: ``.pgpass`` from the
    primary's password file, then ``pg_basebackup -R -S <slot>`` into the data directory.

    With ``ca_file``, once the primary offers a certificate that ``ca_file`` verifies for
    ``primary_address`` (probed from this host when the operation runs), the base backup and
    streaming use ``sslmode=verify-full``; an existing standby's ``primary_conninfo`` is
    switched to it with ``ALTER SYSTEM`` and a reload (the WAL receiver reconnects).

    Replaces the local cluster only when it is a fresh, empty one (databases ``postgres``
    and templates, no user tables); anything else is refused and left untouched. A primary
    that does not answer (``pg_isready``) stops it before the cluster is touched; a failed
    ``pg_basebackup`` puts the previous cluster back and starts it.

    + primary_name: inventory name of the primary (its password file is read over SSH)
    + primary_address: address the standby connects to
    + ca_file: CA certificate on this host that verifies the primary (empty: no TLS demanded)

    **Example:**

    .. code:: python

        postgres_replication.standby(name="Standby", primary_name="db1",
                                     primary_address="10.0.0.11", ca_file=tls.CA_PATH)
    """
    fact = host.get_fact(PostgresReplication)
    if not fact["in_recovery"] and (
        fact["databases"] not in ([], ["postgres"]) or fact["user_tables"]
    ):
        raise OperationError(
            f"refusing to replace the cluster in {PG_DATA} on {host.name} with a standby: it "
            f"holds data (databases {', '.join(fact['databases'])}, {fact['user_tables']} user "
            "tables). Move it away yourself if it is really disposable."
        )
    where = f"{primary_name} at {primary_address}:{int(port)}"
    if not fact["in_recovery"]:
        # before anything changes: the primary must answer (pg_isready: network, listener)
        yield StringCommand(
            f"pg_isready -q -t 10 -h {primary_address} -p {int(port)} || {{ echo"
            f" 'standby {host.name}: the primary {where} is unreachable (pg_isready exit '$?'):"
            " check the network and firewall between the hosts and that the primary listens"
            " on that address (deploy the primary first); nothing was changed' >&2; exit 1; }"
        )
    if not fact["pgpass"]:
        yield FunctionCommand(_copy_password, (primary_name, primary_address, int(port)), {})
    if fact["in_recovery"] and ca_file:
        yield from _verified_conninfo(primary_address, int(port), ca_file)
        return
    if fact["in_recovery"]:
        host.noop("this host is already a standby")
        return
    verified = bool(ca_file) and _verifiable(primary_address, int(port), ca_file)
    conninfo = primary_conninfo(primary_address, port, ca_file if verified else "")
    aside = f"{PG_DATA}.replaced-by-standby"
    # a failed base backup puts the old cluster back and starts it again
    yield StringCommand(
        f"systemctl stop {PG_SERVICE} && rm -rf {aside} && mv {PG_DATA} {aside} &&"
        f" install -d -o postgres -g postgres -m 0700 {PG_DATA} && {{"
        f" runuser -u postgres -- /usr/lib/postgresql/{PG_VERSION}/bin/pg_basebackup"
        f" -d '{conninfo}' -D {PG_DATA} -R -X stream"
        f" -S {slot_name(host.name)} -c fast -w || {{ rm -rf {PG_DATA} && mv {aside} {PG_DATA}"
        f" && systemctl start {PG_SERVICE}; echo 'standby {host.name}: pg_basebackup from"
        f" {where} failed; the previous cluster was put back' >&2; exit 1; }}; }}"
        f" && systemctl start {PG_SERVICE}"
    )


def _verifiable(address: str, port: int, ca_file: str) -> bool:
    """The primary answers, from this host, with a certificate ``ca_file`` verifies."""
    return host.get_fact(PostgresTlsProbe, address=address, port=port, ca_file=ca_file)


def _verified_conninfo(address: str, port: int, ca_file: str):
    """Switch a running standby's ``primary_conninfo`` to ``verify-full`` (reload only)."""
    configured = host.get_fact(PostgresReplicationTls)["configured"]
    if configured.get("sslmode") == "verify-full" and configured.get("sslrootcert") == ca_file:
        host.noop("this host is already a standby that verifies the primary's certificate")
    elif not _verifiable(address, port, ca_file):
        host.noop(
            f"this host is already a standby; the primary at {address}:{port} offers no"
            f" certificate that {ca_file} verifies, so primary_conninfo stays"
            f" sslmode={configured.get('sslmode', 'prefer')} until it does"
            " (deploys/tls.py on the primary, then this again)"
        )
    else:
        wanted = primary_conninfo(address, port, ca_file)
        yield psql(f"ALTER SYSTEM SET primary_conninfo = '{wanted}'")
        yield psql("SELECT pg_reload_conf()")


@operation()
def promote():
    """
    Failover step 2: promote this standby (``pg_ctlcluster ... promote``), wait until it
    accepts writes, and start the heartbeat here.

    **Example:**

    .. code:: python

        postgres_replication.promote(name="Promote the standby")
    """
    fact = host.get_fact(PostgresReplication)
    if not fact["in_recovery"]:
        host.noop("already a primary")
        return
    yield StringCommand(
        f"pg_ctlcluster {PG_VERSION} main promote && for i in $(seq 30); do"
        " [ \"$(runuser -u postgres -- psql -XAtqc 'SELECT pg_is_in_recovery()')\" = f ]"
        " && exit 0; sleep 1; done; echo 'standby did not leave recovery' >&2; exit 1"
    )
    yield from heartbeat._inner()


@operation()
def fence():
    """
    Failover step 1: stop the old primary and keep it from coming back as a primary
    (``standby.signal`` in its data directory, unit masked, marker file).

    **Example:**

    .. code:: python

        postgres_replication.fence(name="Fence the old primary")
    """
    yield StringCommand(
        f"if [ -e {FENCE_MARKER} ]; then exit 0; fi;"
        " systemctl disable --now hardening-pg-heartbeat.timer 2>/dev/null;"
        f" systemctl stop {PG_SERVICE} && systemctl mask {PG_SERVICE} &&"
        f" runuser -u postgres -- touch {PG_DATA}/standby.signal &&"
        f" mkdir -p /etc/hardening && date -u +%FT%TZ > {FENCE_MARKER}"
    )
