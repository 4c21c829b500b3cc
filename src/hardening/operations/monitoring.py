"""Prometheus, Alertmanager, the checklist's alert rules and a dashboard.

Every file is staged next to its destination, validated by the tool of the
service that reads it (``promtool check rules``, ``promtool check config``,
``amtool check-config``) and only then moved into place and the service
*reloaded* (SIGHUP through ``systemctl reload``). A file that fails validation
is removed and the operation fails: the running service keeps its old, valid
configuration.
"""

from __future__ import annotations

import json
import os
import re
from io import StringIO

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.operations import files

from hardening.alert_rules import ALERTS, GROUPS, AlertSpec
from hardening.facts.prometheus import PostgresExporterRole
from hardening.operations._render import render
from hardening.operations._swap import validated_swap

RULES_PATH = "/etc/prometheus/rules/hardening.rules.yml"
PROMETHEUS_CONFIG = "/etc/prometheus/prometheus.yml"
ALERTMANAGER_CONFIG = "/etc/prometheus/alertmanager.yml"
DASHBOARD_PATH = "/var/lib/hardening/dashboards/hardening-overview.json"
#: Directory (0700) beside each managed file where new versions wait for validation.

_THRESHOLD = re.compile(r"^(?P<series>.*\S)\s*[<>]=?\s*[\d.]+$")


def render_rules(alerts: tuple[AlertSpec, ...] = ALERTS) -> str:
    """The Prometheus rules file of ``alerts``, grouped by severity."""
    return render("alert_rules.yml.j2", alerts=alerts, groups=GROUPS)


def render_prometheus_config(
    jobs: dict[str, list[dict[str, str]]],
    alertmanagers: list[str],
    scrape_interval: str = "15s",
    rules_path: str = RULES_PATH,
) -> str:
    """``prometheus.yml``: ``jobs`` is ``{job: [{"address": "h:9100", "host": "tb1"}]}``."""
    return render(
        "prometheus.yml.j2",
        jobs=jobs,
        alertmanagers=alertmanagers,
        scrape_interval=scrape_interval,
        rules_path=rules_path,
    )


def render_alertmanager_config(webhook_url: str = "") -> str:
    """``alertmanager.yml``: one receiver, a webhook when ``webhook_url`` is set."""
    return render("alertmanager.yml.j2", webhook_url=webhook_url)


def _panel_query(spec: AlertSpec) -> str:
    """What a panel graphs: the alert's series without its threshold, else the alert."""
    match = _THRESHOLD.match(spec.expr)
    if match and " or " not in spec.expr:
        return match.group("series")
    return f'ALERTS{{checklist_item="{spec.item}"}}'


def dashboard(alerts: tuple[AlertSpec, ...] = ALERTS) -> dict:
    """A Grafana-importable dashboard: one time-series panel per checklist alert."""
    panels = [
        {
            "id": number,
            "type": "timeseries",
            "title": spec.summary,
            "description": f"{spec.item}: alert {spec.alert} when {spec.expr} for {spec.duration}",
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 8, "w": 12, "x": 12 * (number % 2), "y": 8 * (number // 2)},
            "targets": [{"refId": "A", "expr": _panel_query(spec)}],
        }
        for number, spec in enumerate(alerts)
    ]
    return {
        "uid": "hardening-overview",
        "title": "Hardening overview",
        "tags": ["hardening", "checklist"],
        "schemaVersion": 39,
        "time": {"from": "now-24h", "to": "now"},
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]
        },
        "panels": panels,
    }


def render_dashboard(alerts: tuple[AlertSpec, ...] = ALERTS) -> str:
    """The dashboard as stable, indented JSON text."""
    return json.dumps(dashboard(alerts), indent=2, sort_keys=True) + "\n"


@operation()
def alert_rules(content: str | None = None, path: str = RULES_PATH):
    """
    Install the checklist's alert rules, validated with ``promtool check rules``.

    + content: rules file text; default: ``render_rules()`` (every checklist alert)
    + path: where Prometheus' ``rule_files`` reads it

    **Example:**

    .. code:: python

        monitoring.alert_rules(name="Checklist alert rules")
    """
    yield from validated_swap(
        render_rules() if content is None else content,
        path,
        "promtool check rules",
        "systemctl reload prometheus",
        "alert rules",
    )


@operation()
def prometheus_config(
    jobs: dict[str, list[dict[str, str]]],
    alertmanagers: list[str],
    scrape_interval: str = "15s",
    path: str = PROMETHEUS_CONFIG,
):
    """
    Write ``prometheus.yml`` (scrape jobs, Alertmanager, the rules file) and reload.

    + jobs: ``{job: [{"address": "10.0.0.5:9100", "host": "db1"}]}``
    + alertmanagers: ``host:port`` of the Alertmanagers to send alerts to
    + scrape_interval: scrape and rule evaluation interval
    + path: the configuration file Prometheus reads

    **Example:**

    .. code:: python

        monitoring.prometheus_config(
            name="Prometheus configuration",
            jobs={"node": [{"address": "10.0.0.5:9100", "host": "db1"}]},
            alertmanagers=["127.0.0.1:9093"],
        )
    """
    yield from validated_swap(
        render_prometheus_config(jobs, alertmanagers, scrape_interval),
        path,
        "promtool check config",
        "systemctl reload prometheus",
        "prometheus configuration",
    )


@operation()
def alertmanager_config(webhook_url: str = "", path: str = ALERTMANAGER_CONFIG):
    """
    Write a minimal, valid ``alertmanager.yml`` (checked with ``amtool``) and reload.

    + webhook_url: where notifications go; empty: visible in Alertmanager only. It may
      carry a token: the file is 0640 root:prometheus and its content is never printed
    + path: the configuration file Alertmanager reads

    **Example:**

    .. code:: python

        monitoring.alertmanager_config(webhook_url="https://chat.example.net/hooks/ops")
    """
    yield from validated_swap(
        render_alertmanager_config(webhook_url),
        path,
        "amtool check-config",
        "systemctl reload prometheus-alertmanager",
        "alertmanager configuration",
        group="prometheus",
    )


@operation()
def dashboard_file(path: str = DASHBOARD_PATH):
    """
    Put the Grafana dashboard of the checklist's alerts on the host (import it in Grafana).

    + path: where the JSON file goes

    **Example:**

    .. code:: python

        monitoring.dashboard_file(path="/var/lib/hardening/dashboards/hardening-overview.json")
    """
    yield from files.directory._inner(path=os.path.dirname(path), mode="0755")
    yield from files.put._inner(src=StringIO(render_dashboard()), dest=path, mode="0644")


@operation()
def postgres_exporter_role(role: str = "prometheus"):
    """
    Let the PostgreSQL exporter connect: a login role in ``pg_monitor``, no password.

    Debian's ``prometheus-postgres-exporter`` connects as the OS user ``prometheus``
    over the Unix socket (``user=prometheus host=/run/postgresql``), which peer
    authentication maps to the role of the same name; without the role ``pg_up`` is 0
    and MON-CRIT-02 fires forever. A standby gets the role from its primary.

    + role: the role named in the exporter's ``DATA_SOURCE_NAME``

    **Example:**

    .. code:: python

        monitoring.postgres_exporter_role(name="Role for the PostgreSQL exporter")
    """
    state = host.get_fact(PostgresExporterRole, role=role)
    if not state["running"]:
        host.noop("PostgreSQL is not installed or not running")
    elif state["standby"]:
        host.noop(f"standby: role {role} comes from the primary")
    elif state["exists"] and state["login"] and state["monitor"]:
        host.noop(f"role {role} may log in and is in pg_monitor")
    else:
        ident = '"' + role.replace('"', '""') + '"'
        literal = "'" + role.replace("'", "''") + "'"
        sql = (
            f"SELECT format('CREATE ROLE %I', {literal}) WHERE NOT EXISTS "
            f"(SELECT 1 FROM pg_roles WHERE rolname = {literal}) \\gexec\n"
            f"ALTER ROLE {ident} LOGIN;\nGRANT pg_monitor TO {ident};\n"
        )
        yield StringCommand(
            "printf %s", QuoteString(sql), "| runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1"
        )
