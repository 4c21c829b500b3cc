"""pgBouncer operations: connection pooling in front of PostgreSQL, with client and server TLS.

The configuration is rendered from ``pgbouncer.ini.j2``, staged, checked (every TLS file it
names must be readable by the ``postgres`` user), swapped in, and pgBouncer reloads (client
connections stay); it restarts only when a listen setting changed, which pgBouncer reads at
start only. After the reload it must answer on its port (over verified TLS when TLS is on),
else the operation fails.
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import operation
from pyinfra.operations import systemd

from hardening.facts.pgbouncer import PgbouncerConfig
from hardening.facts.postgres import PostgresTlsProbe
from hardening.operations._render import render
from hardening.operations._swap import validated_swap

CONFIG = "/etc/pgbouncer/pgbouncer.ini"
#: Make pgBouncer reload its configuration and certificates, if it runs; clients stay.
RELOAD = "systemctl try-reload-or-restart pgbouncer"
#: ``client_tls_sslmode`` values that refuse plaintext clients on TCP.
CLIENT_SSLMODES = ("require", "verify-ca", "verify-full")
#: Settings pgBouncer reads only when it starts.
_RESTART_KEYS = ("listen_addr", "listen_port", "unix_socket_dir")
#: Validator of a staged pgbouncer.ini: every ``*_tls_*_file`` it names is readable by postgres.
_VALIDATE = (
    "sh -c "
    + shlex.quote(
        "for f in $(sed -n 's/^[a-z]*_tls_[a-z]*_file = //p' \"$1\"); do"
        ' runuser -u postgres -- test -r "$f" || { echo "pgBouncer cannot read $f" >&2; exit 1; };'
        " done"
    )
    + " -"
)


def _answers(address: str, port: int, ca_file: str) -> str:
    """Shell: wait up to 5 s until pgBouncer answers at ``address:port`` (verified TLS with
    ``ca_file``), else fail saying where to look."""
    target = f"host={address} port={int(port)}"
    if ca_file:
        target += f" sslmode=verify-full sslrootcert={ca_file}"
    return (
        f"for i in 1 2 3 4 5 6 7 8 9 10; do pg_isready -q -t 2 -d {shlex.quote(target)} && exit 0;"
        f" sleep 0.5; done; echo 'pgBouncer does not answer on {address}:{int(port)}"
        f"{' over TLS' if ca_file else ''} after the reload: see /var/log/postgresql/pgbouncer.log'"
        " >&2; exit 1"
    )


@operation()
def pooling(
    listen_addr: str = "127.0.0.1",
    listen_port: int = 6432,
    pool_mode: str = "transaction",
    default_pool_size: int = 20,
    max_client_conn: int = 500,
    server_host: str = "127.0.0.1",
    server_port: int = 5432,
    path: str = CONFIG,
    tls_cert_file: str = "",
    tls_key_file: str = "",
    tls_ca_file: str = "",
    client_tls_sslmode: str = "require",
):
    """
    Configure and run pgBouncer; reload (not restart) it when the file changes.

    With ``tls_cert_file`` clients on TCP must use TLS 1.2+ (``client_tls_sslmode``), and
    PostgreSQL is reached with ``server_tls_sslmode = verify-full`` against ``tls_ca_file``
    when it offers a certificate that CA verifies (checked from this host when the operation
    runs); a server without TLS yet is reached as before and the audit says so.

    + listen_addr / listen_port: where clients connect (comma-separated addresses)
    + pool_mode: session, transaction or statement
    + default_pool_size / max_client_conn: pool sizes
    + server_host / server_port: the PostgreSQL server behind the pool
    + tls_cert_file / tls_key_file: pgBouncer's certificate and key (empty: no TLS)
    + tls_ca_file: the CA that verifies PostgreSQL's certificate (and client certificates)
    + client_tls_sslmode: require, verify-ca or verify-full (the last two: client certificates)

    **Example:**

    .. code:: python

        pgbouncer.pooling(
            name="pgBouncer with TLS", listen_addr="127.0.0.1,10.0.0.11",
            tls_cert_file="/etc/ssl/hardening/pgbouncer.crt",
            tls_key_file="/etc/ssl/hardening/pgbouncer.key",
            tls_ca_file="/usr/local/share/ca-certificates/hardening-ca.crt",
        )
    """
    if pool_mode not in ("session", "transaction", "statement"):
        raise ValueError(f"pool_mode must be session, transaction or statement, not {pool_mode!r}")
    if client_tls_sslmode not in CLIENT_SSLMODES:
        raise ValueError(f"client_tls_sslmode must be one of {CLIENT_SSLMODES}")
    client_tls = server_tls = None
    if tls_cert_file:
        client_tls = {
            "sslmode": client_tls_sslmode,
            "cert_file": tls_cert_file,
            "key_file": tls_key_file,
            "ca_file": tls_ca_file,
        }
        probe = {"address": server_host, "port": int(server_port), "ca_file": tls_ca_file}
        if host.get_fact(PostgresTlsProbe, **probe):
            server_tls = {"sslmode": "verify-full", "ca_file": tls_ca_file}
        else:
            host.noop(
                f"PostgreSQL at {server_host}:{int(server_port)} offers no certificate that"
                f" {tls_ca_file} verifies: pgBouncer reaches it without TLS until it does"
                " (deploys/tls.py, then this again)"
            )
    settings = {
        "listen_addr": listen_addr,
        "listen_port": str(int(listen_port)),
        "unix_socket_dir": "/var/run/postgresql",
    }
    content = render(
        "pgbouncer.ini.j2",
        **settings,
        pool_mode=pool_mode,
        default_pool_size=int(default_pool_size),
        max_client_conn=int(max_client_conn),
        server_host=server_host,
        server_port=int(server_port),
        client_tls=client_tls,
        server_tls=server_tls,
    )
    running = host.get_fact(PgbouncerConfig, path=path)
    current = running["config"].get("pgbouncer", {})
    restart = not running["active"] or any(current.get(k) != settings[k] for k in _RESTART_KEYS)
    first = listen_addr.split(",")[0].strip()
    address = "127.0.0.1" if first in ("*", "0.0.0.0") else first
    check = _answers(address, listen_port, tls_ca_file if client_tls else "")
    apply = "systemctl restart pgbouncer" if restart else "systemctl reload pgbouncer"
    yield from validated_swap(
        content, path, _VALIDATE, f"{apply} && {{ {check}; }}", "pgBouncer", group="postgres"
    )
    yield from systemd.service._inner("pgbouncer", running=True, enabled=True)
