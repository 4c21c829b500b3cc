"""INF-06, DR-BAK-02, DR-RPO-02, OPS-D-02, DR-BAK-03: central logs, error review, config backups."""

from __future__ import annotations

from pyinfra import host, inventory, logger
from pyinfra.api import deploy

from hardening.deploys._common import DB_GROUPS, in_groups
from hardening.deploys.tls import _certificate, trusted_ca
from hardening.operations import config_backup as config_backup_ops
from hardening.operations import logs as logs_ops
from hardening.operations import tls as tls_ops
from hardening.settings import setting

#: Log files rsyslog reads (beyond the journal and syslog), by inventory group.
FILE_SOURCES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("/var/log/nginx/*.log", "nginx", ("web",)),
    ("/var/log/postgresql/*.log", "postgresql", DB_GROUPS),
)


def log_host(hosts=None):
    """The central log host: inventory ``log_host``, else the first host of ``monitoring``."""
    name = setting(host.data, "log_host")
    if name:
        return (hosts or inventory).get_host(name, None)
    members = (hosts or inventory).get_group("monitoring", [])
    return members[0] if members else None


def sources() -> list[dict[str, str]]:
    """The log files of this host's groups, as ``forwarding`` takes them."""
    return [{"path": path, "tag": tag} for path, tag, groups in FILE_SOURCES if in_groups(*groups)]


def relp_certificate(central, receiver: bool) -> dict:
    """Trust the internal CA, give rsyslog a certificate for this host's names (root 0600)
    and return ``forwarding``'s ``tls``: the log host accepts every inventory host, senders
    accept only the log host."""
    directory = trusted_ca()
    restart = f"if [ -e {logs_ops.RSYSLOG_CONF} ]; then systemctl restart rsyslog; fi"
    _certificate(directory, logs_ops.RSYSLOG_CERT, logs_ops.RSYSLOG_KEY, "root", restart)
    senders = sorted(other.name for other in inventory) if receiver else []
    return logs_ops.relp_tls(tls_ops.CA_PATH, [central.name], senders)


@deploy("Log forwarding, retention, review and configuration backups")
def logs() -> None:
    central = log_host()
    if central is None:
        logger.warning("logs: no log_host and no monitoring host in the inventory: no forwarding")
    else:
        receiver = central.name == host.name
        transport = setting(host.data, "logs_transport")
        tls = None
        if setting(host.data, "logs_tls") and transport == "relp":
            tls = relp_certificate(central, receiver)
        logs_ops.forwarding(
            name="Forward logs to the central log host (rsyslogd -N1)",
            target=central.data.get("ssh_hostname") or central.name,
            port=setting(host.data, "logs_port"),
            transport=transport,
            sources=sources(),
            receiver=receiver,
            tls=tls,
        )
        if receiver:
            logs_ops.retention(
                name="Central logs rotated daily and kept",
                days=setting(host.data, "logs_retention_days"),
            )
        logs_ops.marker_timer(name="Hourly log forwarding marker")
    logs_ops.log_volume_timer(name="Journal entries counted for Prometheus (MON-INFO-04)")
    logs_ops.review_timer(
        name="Daily error log review", on_calendar=setting(host.data, "logs_review_calendar")
    )
    config_backup_ops.timer(
        name="Weekly configuration backup",
        destination=setting(host.data, "config_backup_destination"),
        keep_weeks=setting(host.data, "config_backup_keep_weeks"),
        on_calendar=setting(host.data, "config_backup_calendar"),
    )
