"""Log forwarding to a central log host, its retention, marker and error review timers.

rsyslog's configuration is validated as a whole (``rsyslogd -N1`` on a copy of the
configuration with the new file in place of the old one) before it is installed; rsyslog
is then restarted (it has no configuration reload). A rejected file is never installed.
"""

from __future__ import annotations

from importlib.resources import files as files_resource
from io import StringIO

from pyinfra.api import operation
from pyinfra.operations import apt, files

from hardening.facts.logs import CENTRAL_ROOT, STATE_DIR
from hardening.operations import postgres
from hardening.operations._render import render
from hardening.operations._swap import validated_swap

RSYSLOG_CONF = "/etc/rsyslog.d/60-hardening-logs.conf"
LOGROTATE_CONF = "/etc/logrotate.d/hardening-central"
LIB = "/usr/local/lib/hardening"
#: ``rsyslogd -N1`` on the whole configuration with the staged file ($1) replacing ours.
RSYSLOG_VALIDATE = (
    "sh -c 't=$(mktemp -d) && for f in /etc/rsyslog.d/*.conf; do "
    f'[ "$f" = {RSYSLOG_CONF} ] || ln -s "$f" "$t/"; done && cp "$1" "$t/" && '
    'sed "s#/etc/rsyslog.d/[*].conf#$t/*.conf#" /etc/rsyslog.conf > "$t/main" && '
    'rsyslogd -N1 -f "$t/main"; rc=$?; rm -rf "$t"; exit $rc\' rsyslog-validate'
)
TRANSPORTS = ("relp", "tcp")
#: Certificate and key (root 0600) rsyslog shows its RELP peers, from the internal CA.
RSYSLOG_CERT, RSYSLOG_KEY = "/etc/ssl/hardening/rsyslog.crt", "/etc/ssl/hardening/rsyslog.key"


def relp_tls(
    ca: str, server_peers: list[str], client_peers: list[str] | tuple = ()
) -> dict[str, object]:
    """The ``tls`` argument of ``render_rsyslog``/``forwarding``: RELP over TLS with this host's
    certificate (``RSYSLOG_CERT``), the CA file ``ca``, and the certificate names accepted
    from the log host (``server_peers``) and, on the log host, from the senders."""
    return {
        "ca": ca,
        "cert": RSYSLOG_CERT,
        "key": RSYSLOG_KEY,
        "server_peers": list(server_peers),
        "client_peers": list(client_peers),
    }


def render_rsyslog(
    target: str,
    port: int = 2514,
    transport: str = "relp",
    files_: list[dict[str, str]] | tuple = (),
    receiver: bool = False,
    root: str = CENTRAL_ROOT,
    tls: dict | None = None,
) -> str:
    """The rsyslog drop-in: forward everything to ``target``; with ``receiver``, receive too;
    with ``tls`` (see ``relp_tls``) both directions use RELP over TLS."""
    if transport not in TRANSPORTS:
        raise ValueError(f"logs_transport must be one of {', '.join(TRANSPORTS)}: {transport!r}")
    if tls and transport != "relp":
        raise ValueError("logs_tls needs logs_transport relp (plain TCP has no TLS here)")
    return render(
        "rsyslog-hardening.conf.j2",
        target=target,
        port=port,
        transport=transport,
        files=files_,
        receiver=receiver,
        root=root,
        tls=tls,
    )


@operation()
def forwarding(
    target: str,
    port: int = 2514,
    transport: str = "relp",
    sources: list[dict[str, str]] | tuple = (),
    receiver: bool = False,
    root: str = CENTRAL_ROOT,
    tls: dict | None = None,
):
    """
    INF-06: forward every local log (journald through rsyslog, auth, plus ``sources`` files
    such as nginx and PostgreSQL logs) to the central log host over RELP (or plain TCP),
    with ``tls`` over RELP/TLS: certificates of the internal CA on both sides, peers checked
    by name.

    + target: address of the central log host
    + port: its RELP/TCP port
    + transport: ``relp`` (acknowledged delivery; installs ``rsyslog-relp``) or ``tcp``
      (plain, unencrypted: only on a trusted network)
    + sources: log files rsyslog reads, ``[{"path": "/var/log/nginx/*.log", "tag": "nginx"}]``
    + receiver: this host is the central log host: receive into ``root/<host>/<program>.log``
    + root: directory of the central logs
    + tls: ``relp_tls(...)``: CA, certificate, key and permitted peer names; the certificate
      must be in place first (``tls.server_certificate``)

    **Example:**

    .. code:: python

        logs.forwarding(name="Forward logs", target="10.0.0.5",
                        sources=[{"path": "/var/log/nginx/*.log", "tag": "nginx"}],
                        tls=logs.relp_tls(tls.CA_PATH, ["log1"]))
    """
    content = render_rsyslog(target, port, transport, sources, receiver, root, tls)
    if transport == "relp":
        yield from apt.packages._inner(packages=["rsyslog-relp"], update=True, cache_time=86400)
    if receiver:
        yield from files.directory._inner(path=root, mode="0750", user="root", group="adm")
    yield from validated_swap(
        content,
        RSYSLOG_CONF,
        RSYSLOG_VALIDATE,
        "systemctl restart rsyslog",
        "rsyslog configuration",
    )


@operation()
def retention(days: int = 30, root: str = CENTRAL_ROOT, path: str = LOGROTATE_CONF):
    """
    DR-BAK-02: rotate the central logs daily and keep ``days`` days (validated with
    ``logrotate -d``).

    **Example:**

    .. code:: python

        logs.retention(name="Central logs kept 30 days", days=30)
    """
    content = render("hardening-central.logrotate.j2", days=days, root=root)
    yield from validated_swap(content, path, "logrotate -d", "true", "logrotate configuration")


def scripted_timer(script: str, unit: str, description: str, exec_start: str = "", **when):
    """Install the packaged ``templates/<script>`` as ``LIB/<unit>`` and a root timer running it
    (``exec_start`` defaults to the script); ``when``: ``interval`` or ``on_calendar``."""
    text = (files_resource("hardening.operations") / "templates" / script).read_text()
    dest = f"{LIB}/{unit.removeprefix('hardening-')}"
    yield from files.directory._inner(path=LIB)
    yield from files.put._inner(src=StringIO(text), dest=dest, mode="0755")
    yield from postgres.timer._inner(
        unit=unit,
        description=description,
        exec_start=exec_start or dest,
        user="root",
        run_now=True,
        **when,
    )


@operation()
def marker_timer(interval: str = "1h"):
    """
    INF-06 / DR-RPO-02: every ``interval`` send a marker line through syslog
    (``logger -t hardening-log-marker``); the log host stores it with its arrival time.

    **Example:**

    .. code:: python

        logs.marker_timer(name="Hourly log marker", interval="1h")
    """
    yield from scripted_timer(
        "hardening-log-marker.sh",
        "hardening-log-marker",
        "hardening: log forwarding marker",
        interval=interval,
    )


@operation()
def log_volume_timer(interval: str = "1min"):
    """
    MON-INFO-04: every ``interval`` count the journal entries written since the last run into
    the counter ``log_messages_total{source="journal"}`` of the node exporter's textfile
    collector (``log-volume.prom``), which alert ``LogVolumeAnomaly`` reads.

    **Example:**

    .. code:: python

        logs.log_volume_timer(name="Log volume counter", interval="1min")
    """
    yield from scripted_timer(
        "hardening-log-volume.sh",
        "hardening-log-volume",
        "hardening: journal entry counter for Prometheus",
        interval=interval,
    )


@operation()
def review_timer(on_calendar: str = "*-*-* 06:30"):
    """
    OPS-D-02: a daily timer counting error and warning lines per unit of the last 24 h
    into ``/var/lib/hardening/logs/review-<date>.json``; runs once when installed.

    **Example:**

    .. code:: python

        logs.review_timer(name="Daily error review", on_calendar="*-*-* 06:30")
    """
    yield from scripted_timer(
        "hardening-log-review.py",
        "hardening-log-review",
        "hardening: daily error log review",
        f"/bin/sh -c 'exec /usr/bin/python3 {LIB}/log-review -24h "
        f"{STATE_DIR}/review-$$(date +%%F).json'",
        on_calendar=on_calendar,
    )
