"""INF-05, PRE-06, OPS-D-01, OPS-D-05, MON-*: Prometheus, Alertmanager, alert rules, dashboard."""

from __future__ import annotations

from pyinfra import host, inventory
from pyinfra.api import deploy
from pyinfra.operations import systemd

from hardening.deploys._common import DB_GROUPS, in_groups
from hardening.inventory import host_groups
from hardening.operations import monitoring as monitoring_ops
from hardening.settings import setting

#: Scrape jobs: job name, port, groups whose hosts run it (empty: every host).
EXPORTERS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("prometheus", 9090, ("monitoring",)),
    ("alertmanager", 9093, ("monitoring",)),
    ("node", 9100, ()),
    ("postgres", 9187, DB_GROUPS),
    ("redis", 9121, ("cache",)),
)


def scrape_jobs(hosts) -> dict[str, list[dict[str, str]]]:
    """``{job: [{"address": "ADDR:PORT", "host": NAME}]}`` for every inventory host."""
    jobs: dict[str, list[dict[str, str]]] = {}
    for job, port, groups in EXPORTERS:
        for member in hosts:
            if groups and not set(groups) & set(host_groups(member)):
                continue
            address = member.data.get("ssh_hostname") or member.name
            jobs.setdefault(job, []).append({"address": f"{address}:{port}", "host": member.name})
    return jobs


@deploy("Monitoring and alerting")
def monitoring() -> None:
    if in_groups(*DB_GROUPS):
        monitoring_ops.postgres_exporter_role(name="PostgreSQL role of the exporter (pg_up)")
    if not in_groups("monitoring"):
        return
    for unit in ("prometheus", "prometheus-alertmanager"):
        systemd.service(name=f"{unit} runs", service=unit, running=True, enabled=True)
    monitoring_ops.alert_rules(name="Checklist alert rules (promtool check rules)")
    monitoring_ops.prometheus_config(
        name="Prometheus configuration (promtool check config)",
        jobs=scrape_jobs(inventory),
        alertmanagers=["127.0.0.1:9093"],
        scrape_interval=setting(host.data, "monitoring_scrape_interval"),
    )
    monitoring_ops.alertmanager_config(
        name="Alertmanager configuration (amtool check-config)",
        webhook_url=setting(host.data, "monitoring_webhook_url"),
    )
    monitoring_ops.dashboard_file(
        name="Dashboard of the checklist's alerts",
        path=setting(host.data, "monitoring_dashboard_path"),
    )
