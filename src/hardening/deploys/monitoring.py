"""INF-05, PRE-06, OPS-D-01, OPS-D-05, MON-*: Prometheus, Alertmanager, alert rules, dashboard;
Prometheus scrapes the exporters, the reference app's ``/metrics`` (job ``app``) and the nginx
exporter (job ``nginx``), both through nginx on the web hosts, which lets only the monitoring
hosts read them;
SEC-03/SEC-04 for them: every daemon of the Prometheus family speaks TLS with a certificate
of the internal CA, Alertmanager's cluster port is off, and hosts outside ``monitoring`` run
neither Prometheus nor Alertmanager (nor an exporter no scrape job reads: the Redis exporter
outside ``cache``, the PostgreSQL exporter outside the database groups).

Order in ``harden()``: after ``default_passwords`` (the Redis exporter logs in as its own
introspection-only ACL user ``exporter``, created through the ``admin`` user that SEC-01
sets up) and ``tls`` (same CA; this deploy also trusts it itself), before ``firewall``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra import host, inventory
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import systemd

from hardening.deploys._common import DB_GROUPS, in_groups, not_needed_here
from hardening.deploys.tls import _certificate as certificate
from hardening.deploys.tls import trusted_ca
from hardening.deploys.web import nginx_exporter_on
from hardening.inventory import host_groups
from hardening.operations import monitoring as monitoring_ops
from hardening.operations import tls as tls_ops
from hardening.settings import setting


@dataclass(frozen=True)
class Daemon:
    """A daemon of the Prometheus family: its unit, the short name of its certificate and
    web configuration, its scrape job and port, the groups that need it (empty: every host)."""

    unit: str
    short: str
    job: str
    port: int
    groups: tuple[str, ...]

    @property
    def cert(self) -> str:
        return f"{tls_ops.TLS_DIR}/{self.short}.crt"

    @property
    def key(self) -> str:
        return f"{tls_ops.TLS_DIR}/{self.short}.key"

    def tls_flags(self) -> dict[str, str]:
        """Flags that put it behind TLS (the Redis exporter has its own, no web config)."""
        if self.unit == "prometheus-redis-exporter":
            return {
                "tls-server-cert-file": self.cert,
                "tls-server-key-file": self.key,
                "tls-server-min-version": "TLS1.2",
            }
        flags = {"web.config.file": monitoring_ops.web_config_path(self.short)}
        if self.unit == "prometheus-alertmanager":
            flags["cluster.listen-address"] = ""  # no gossip port 9094 (single Alertmanager)
        return flags


DAEMONS: tuple[Daemon, ...] = (
    Daemon("prometheus", "prometheus", "prometheus", 9090, ("monitoring",)),
    Daemon("prometheus-alertmanager", "alertmanager", "alertmanager", 9093, ("monitoring",)),
    Daemon("prometheus-node-exporter", "node-exporter", "node", 9100, ()),
    Daemon("prometheus-postgres-exporter", "postgres-exporter", "postgres", 9187, DB_GROUPS),
    Daemon("prometheus-redis-exporter", "redis-exporter", "redis", 9121, ("cache",)),
)
#: Scrape jobs: job name, port, groups whose hosts run it (empty: every host).
EXPORTERS: tuple[tuple[str, int, tuple[str, ...]], ...] = tuple(
    (daemon.job, daemon.port, daemon.groups) for daemon in DAEMONS
)


#: The reference app's ``/metrics``, read through nginx on every ``web`` host (deploys/web.py
#: lets the monitoring hosts through): the series of the HTTP and WebSocket alert rules.
APP_JOB = "app"
#: nginx's own counters: the loopback nginx exporter's page, read through nginx likewise.
NGINX_JOB = "nginx"
#: Jobs read through nginx on the web hosts: job -> path on the web server.
THROUGH_NGINX = {APP_JOB: "/metrics", NGINX_JOB: "/nginx-metrics"}


def _address(member) -> str:
    return member.data.get("ssh_hostname") or member.name


def nginx_targets(hosts, job: str) -> list[dict[str, str]]:
    """Targets of a job read through nginx (``THROUGH_NGINX``) on each web host (for job
    ``nginx``: those with ``web_nginx_exporter``): ``https://ADDR:443/PATH`` with
    ``web_tls``, ``http://ADDR:80/PATH`` (``"scheme": "http"``) without."""
    path = THROUGH_NGINX[job]
    targets = []
    for member in hosts:
        if "web" not in host_groups(member):
            continue
        if job == NGINX_JOB and not nginx_exporter_on(member.data):
            continue
        tls = bool(setting(member.data, "web_tls"))
        target = {"address": f"{_address(member)}:{443 if tls else 80}", "host": member.name}
        target = target if tls else {**target, "scheme": "http"}
        targets.append(target if path == "/metrics" else {**target, "metrics_path": path})
    return targets


def scrape_jobs(hosts) -> dict[str, list[dict[str, str]]]:
    """``{job: [{"address": "ADDR:PORT", "host": NAME}]}`` for every inventory host: the
    exporters' jobs and those read through nginx (``nginx_targets``)."""
    jobs: dict[str, list[dict[str, str]]] = {}
    for job, port, groups in EXPORTERS:
        for member in hosts:
            if groups and not set(groups) & set(host_groups(member)):
                continue
            jobs.setdefault(job, []).append(
                {"address": f"{_address(member)}:{port}", "host": member.name}
            )
    for job in THROUGH_NGINX:
        targets = nginx_targets(hosts, job)
        if targets:
            jobs[job] = targets
    return jobs


def tls_jobs(jobs: dict[str, list[dict[str, str]]], exporters_tls: bool) -> list[str]:
    """Jobs scraped over https with the internal CA: the exporters' with ``monitoring_tls``,
    those read through nginx when a web host serves them over https (``web_tls``)."""
    https = [job for job in jobs if job not in THROUGH_NGINX] if exporters_tls else []
    for job in THROUGH_NGINX:
        if any(target.get("scheme") != "http" for target in jobs.get(job, [])):
            https.append(job)
    return https


def _behind_tls(daemon: Daemon, pki_directory: str) -> None:
    """Certificate, web configuration and ARGS of one daemon."""
    # exporter-toolkit loads the pair on every connection; redis_exporter only at start
    redis = daemon.unit == "prometheus-redis-exporter"
    reload = f"systemctl try-restart {daemon.unit}" if redis else ""
    certificate(pki_directory, daemon.cert, daemon.key, "prometheus", reload)
    if not redis:
        monitoring_ops.web_config(
            name=f"{daemon.short}: web configuration (TLS 1.2+)",
            service=daemon.short,
            cert_file=daemon.cert,
            key_file=daemon.key,
        )
    monitoring_ops.service_args(
        name=f"{daemon.unit}: ARGS for TLS", unit=daemon.unit, flags=daemon.tls_flags()
    )


def daemons() -> None:
    """Each installed daemon of the Prometheus family: behind TLS where this host's groups
    need it (SEC-03), stopped and disabled where they do not (SEC-04)."""
    installed = [d for d in DAEMONS if host.get_fact(File, path=f"/etc/default/{d.unit}")]
    needed = [d for d in installed if not d.groups or in_groups(*d.groups)]
    for daemon in installed:
        if daemon not in needed:
            not_needed_here(daemon.unit)
    if not (needed and setting(host.data, "monitoring_tls")):
        return
    directory = trusted_ca()
    for daemon in needed:
        _behind_tls(daemon, directory)


@deploy("Monitoring and alerting")
def monitoring() -> None:
    if in_groups(*DB_GROUPS):
        monitoring_ops.postgres_exporter_role(name="PostgreSQL role of the exporter (pg_up)")
    if in_groups("cache"):
        monitoring_ops.redis_exporter_auth(
            name="Redis exporter authenticates (0600 env file)",
            backend_config=setting(host.data, "secrets_backend"),
        )
    daemons()
    if not in_groups("monitoring"):
        return
    for unit in ("prometheus", "prometheus-alertmanager"):
        systemd.service(name=f"{unit} runs", service=unit, running=True, enabled=True)
    monitoring_ops.alert_rules(name="Checklist alert rules (promtool check rules)")
    exporters_tls = bool(setting(host.data, "monitoring_tls"))
    jobs = scrape_jobs(inventory)
    https = tls_jobs(jobs, exporters_tls)
    if https and not exporters_tls:
        trusted_ca()  # the app's nginx certificates are the internal CA's
    monitoring_ops.prometheus_config(
        name="Prometheus configuration (promtool check config)",
        jobs=jobs,
        alertmanagers=["127.0.0.1:9093"],
        scrape_interval=setting(host.data, "monitoring_scrape_interval"),
        ca_file=tls_ops.CA_PATH if https else "",
        tls_jobs=https,
        alertmanager_tls=exporters_tls,
    )
    monitoring_ops.alertmanager_config(
        name="Alertmanager configuration (amtool check-config)",
        webhook_url=setting(host.data, "monitoring_webhook_url"),
    )
    monitoring_ops.dashboard_file(
        name="Dashboard of the checklist's alerts",
        path=setting(host.data, "monitoring_dashboard_path"),
    )
