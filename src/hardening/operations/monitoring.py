"""Prometheus, Alertmanager, the checklist's alert rules and a dashboard.

Every file is staged next to its destination, validated by the tool of the
service that reads it (``promtool check rules``, ``promtool check config``,
``amtool check-config``) and only then moved into place and the service
*reloaded* (SIGHUP through ``systemctl reload``). A file that fails validation
is removed and the operation fails: the running service keeps its old, valid
configuration.

TLS (SEC-03): every daemon of the Prometheus family gets an exporter-toolkit web
configuration (``--web.config.file``; the Redis exporter its own ``--tls-server-*`` flags)
through the ``ARGS`` of its Debian ``/etc/default`` file. The daemons re-read the web
configuration and its certificate on every connection, so a renewed certificate needs no
restart; only a change of ``ARGS`` restarts the unit.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from io import StringIO

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.api.exceptions import OperationError
from pyinfra.operations import files

from hardening.alert_rules import ALERTS, GROUPS, AlertSpec
from hardening.facts.prometheus import PostgresExporterRole, RedisExporterAuth, ServiceArgs
from hardening.facts.redis import ADMIN_USER, EXPORTER_USER, acl_password_shell
from hardening.operations._render import render
from hardening.operations._swap import validated_swap
from hardening.operations.redis import SECRETS_CONF, exporter_acl_script

RULES_PATH = "/etc/prometheus/rules/hardening.rules.yml"
PROMETHEUS_CONFIG = "/etc/prometheus/prometheus.yml"
ALERTMANAGER_CONFIG = "/etc/prometheus/alertmanager.yml"
DASHBOARD_PATH = "/var/lib/hardening/dashboards/hardening-overview.json"
#: Debian's environment file of the Redis exporter (ARGS, and REDIS_PASSWORD: 0600).
REDIS_EXPORTER_DEFAULTS = "/etc/default/prometheus-redis-exporter"
#: Validates a web configuration where promtool is installed (exporter-only hosts lack it).
_CHECK_WEB_CONFIG = "sh -c '! command -v promtool >/dev/null || promtool check web-config \"$0\"'"
#: What a word of ``ARGS`` may contain (systemd splits ``$ARGS`` on blanks, no quoting).
_ARG_WORD = re.compile(r"[A-Za-z0-9._:/=,@+-]*")

_THRESHOLD = re.compile(r"^(?P<series>.*\S)\s*[<>]=?\s*[\d.]+$")


def render_rules(alerts: tuple[AlertSpec, ...] = ALERTS) -> str:
    """The Prometheus rules file of ``alerts``, grouped by severity."""
    return render("alert_rules.yml.j2", alerts=alerts, groups=GROUPS)


def render_prometheus_config(
    jobs: dict[str, list[dict[str, str]]],
    alertmanagers: list[str],
    scrape_interval: str = "15s",
    rules_path: str = RULES_PATH,
    ca_file: str = "",
    tls_jobs: list[str] | tuple[str, ...] | None = None,
    alertmanager_tls: bool = True,
) -> str:
    """``prometheus.yml``: ``jobs`` is ``{job: [{"address": "h:9100", "host": "tb1"}]}``.

    With ``ca_file`` the Alertmanagers (unless ``alertmanager_tls`` is false) and the
    ``tls_jobs`` (default: every job) are reached over https, trusting that CA; other jobs
    stay on http. A target with a ``scheme`` key is scraped with that scheme.
    """
    return render(
        "prometheus.yml.j2",
        jobs=jobs,
        alertmanagers=alertmanagers,
        scrape_interval=scrape_interval,
        rules_path=rules_path,
        ca_file=ca_file,
        tls_jobs=list(jobs) if tls_jobs is None else list(tls_jobs),
        alertmanager_tls=alertmanager_tls,
    )


def web_config_path(service: str) -> str:
    """Where the web configuration of ``service`` (e.g. ``node-exporter``) lives."""
    return f"/etc/prometheus/web-{service}.yml"


def render_web_config(service: str, cert_file: str, key_file: str) -> str:
    """The exporter-toolkit web configuration: TLS 1.2+ with this certificate and key."""
    return render(
        "prometheus-web-config.yml.j2", service=service, cert_file=cert_file, key_file=key_file
    )


def merged_args(current: list[str], flags: dict[str, str]) -> list[str]:
    """``current`` words with every flag of ``flags`` set to its value: earlier ``-name``,
    ``--name`` or ``--name=...`` words are dropped and ``--name=value`` appended, so merging
    twice gives the same words. Other words stay as the operator wrote them."""
    names = {name.lstrip("-") for name in flags}
    kept = [
        word
        for word in current
        if not (word.startswith("-") and word.lstrip("-").split("=", 1)[0] in names)
    ]
    return kept + [f"--{name.lstrip('-')}={value}" for name, value in flags.items()]


def args_line(words: list[str]) -> str:
    """``ARGS="..."`` for ``words``; :class:`OperationError` for a word systemd would split."""
    bad = [word for word in words if not _ARG_WORD.fullmatch(word)]
    if bad:
        raise OperationError(f"ARGS words with blanks or shell characters: {bad}")
    return 'ARGS="' + " ".join(words) + '"'


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
    ca_file: str = "",
    tls_jobs: list[str] | None = None,
    alertmanager_tls: bool = True,
):
    """
    Write ``prometheus.yml`` (scrape jobs, Alertmanager, the rules file) and reload.

    + jobs: ``{job: [{"address": "10.0.0.5:9100", "host": "db1"}]}``
    + alertmanagers: ``host:port`` of the Alertmanagers to send alerts to
    + scrape_interval: scrape and rule evaluation interval
    + path: the configuration file Prometheus reads
    + ca_file: CA certificate on the host; set: Alertmanagers and ``tls_jobs`` over https
    + tls_jobs: jobs scraped over https (default: all); the others stay on http
    + alertmanager_tls: with ``ca_file``, reach the Alertmanagers over https

    **Example:**

    .. code:: python

        monitoring.prometheus_config(
            name="Prometheus configuration",
            jobs={"node": [{"address": "10.0.0.5:9100", "host": "db1"}]},
            alertmanagers=["127.0.0.1:9093"],
        )
    """
    yield from validated_swap(
        render_prometheus_config(
            jobs,
            alertmanagers,
            scrape_interval,
            ca_file=ca_file,
            tls_jobs=tls_jobs,
            alertmanager_tls=alertmanager_tls,
        ),
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


@operation()
def web_config(service: str, cert_file: str, key_file: str, path: str | None = None):
    """
    The exporter-toolkit web configuration of ``service`` (TLS 1.2+ with its certificate),
    validated with ``promtool check web-config`` where promtool is installed. Nothing is
    restarted: the daemons read this file on every connection.

    + service: short name (``prometheus``, ``alertmanager``, ``node-exporter`` ...)
    + cert_file, key_file: the certificate and key (key readable by user ``prometheus``)
    + path: default ``/etc/prometheus/web-<service>.yml``

    **Example:**

    .. code:: python

        monitoring.web_config(
            service="node-exporter",
            cert_file="/etc/ssl/hardening/node-exporter.crt",
            key_file="/etc/ssl/hardening/node-exporter.key",
        )
    """
    yield from validated_swap(
        render_web_config(service, cert_file, key_file),
        path or web_config_path(service),
        _CHECK_WEB_CONFIG,
        "true",
        f"{service} web configuration",
    )


@operation()
def service_args(unit: str, flags: dict[str, str], path: str | None = None):
    """
    Set command-line flags in the ``ARGS`` of a Debian ``/etc/default/<unit>`` file (other
    words stay), then restart ``unit`` and confirm it runs. No change, no restart.

    + unit: systemd unit, e.g. ``prometheus-node-exporter``
    + flags: ``{"web.config.file": "/etc/prometheus/web-node-exporter.yml"}``; an empty
      value gives ``--name=`` (e.g. ``cluster.listen-address`` off)
    + path: default ``/etc/default/<unit>``

    **Example:**

    .. code:: python

        monitoring.service_args(
            unit="prometheus-alertmanager", flags={"cluster.listen-address": ""}
        )
    """
    path = path or f"/etc/default/{unit}"
    current = host.get_fact(ServiceArgs, path=path)
    if current is None:
        host.noop(f"{unit} is not installed ({path} does not exist)")
        return
    wanted = merged_args(current, flags)
    if wanted == current:
        host.noop(f"{unit} runs with {' '.join(wanted)}")
        return
    yield StringCommand(
        "sed -i '/^ARGS=/d'",
        QuoteString(path),
        "&& printf '%s\\n'",
        QuoteString(args_line(wanted)),
        ">>",
        QuoteString(path),
    )
    yield StringCommand(
        f"systemctl restart {unit} && sleep 1 && systemctl is-active -q {unit} || "
        f"{{ echo '{unit} does not run with its new ARGS: see journalctl -u {unit}' >&2;"
        " exit 1; }"
    )


@operation()
def redis_exporter_auth(
    env_file: str = REDIS_EXPORTER_DEFAULTS,
    secrets_conf: str = SECRETS_CONF,
    unit: str = "prometheus-redis-exporter",
    backend_config: dict | None = None,
    config: str = "/etc/redis/redis.conf",
):
    """
    Let the Redis exporter authenticate as the introspection-only ACL user ``exporter``
    (``EXPORTER_ACL``: INFO, CONFIG GET, SLOWLOG, LATENCY ..., no keys), through its
    environment file (made 0600 root first). With a secrets backend its password comes from
    the backend (written through stdin; ``deploys/secrets.py`` puts the user in Redis).
    Otherwise the password is generated *on the host* into SEC-01's include file (0640
    redis, next to the ``admin`` user, so Redis reloads it at start) and the user is created
    at runtime with ``ACL SETUSER`` over the admin connection, then verified with
    ``AUTH exporter``; the shell copies the password into the environment file. Passwords
    are never in a command line nor printed. Restarts the exporter only when the file
    changed.

    + env_file: the exporter unit's ``EnvironmentFile``
    + secrets_conf: Redis include file with the ACL users
    + unit: the exporter's systemd unit
    + backend_config: the ``secrets_backend`` setting (empty: a host-generated password)
    + config: the main redis.conf (its port or TLS port)

    **Example:**

    .. code:: python

        monitoring.redis_exporter_auth(name="Redis exporter authenticates")
    """
    if host.get_fact(ServiceArgs, path=env_file) is None:
        host.noop(f"the Redis exporter is not installed ({env_file} does not exist)")
        return
    state = host.get_fact(
        RedisExporterAuth, env_file=env_file, secrets_conf=secrets_conf, config=config
    )
    if backend_config:
        yield from _exporter_acl_user(state, env_file, unit, backend_config)
        return
    if not state["host_password"]:
        host.noop(f"no {ADMIN_USER} password in {secrets_conf}: the exporter needs none")
        return
    if state["exporter_current"] and state["exporter_login"]:
        host.noop(f"the {EXPORTER_USER} ACL user logs in ({secrets_conf})")
    else:
        yield StringCommand(exporter_acl_script(config, secrets_conf))
    if state["synced"] and state["user"] == EXPORTER_USER and state["mode"] == "600":
        host.noop(f"{env_file} (0600) holds the {EXPORTER_USER} user's current password")
        return
    yield StringCommand(
        f'e=$({acl_password_shell(EXPORTER_USER, secrets_conf)}) && [ -n "$e" ] && chmod 0600',
        QuoteString(env_file),
        "&& sed -i '/^REDIS_PASSWORD=/d; /^REDIS_USER=/d'",
        QuoteString(env_file),
        f'&& printf "REDIS_USER={EXPORTER_USER}\\nREDIS_PASSWORD=\'%s\'\\n" "$e" >>',
        QuoteString(env_file),
        f"&& systemctl restart {unit}",
    )


def _exporter_acl_user(state: dict, env_file: str, unit: str, backend_config: dict):
    """The exporter's ACL credential from the backend into ``env_file`` (stdin, 0600)."""
    from hardening.operations.secrets import backend, credential_name

    record = backend(backend_config).load(credential_name("redis-exporter"))
    if not record.exists:
        host.noop("no redis-exporter credential in the backend yet: run deploys/secrets.py")
        return
    password = record.current["password"]
    wanted = hashlib.sha256(password.encode()).hexdigest()
    synced = state["user"] == "exporter" and state["password_sha256"] == wanted
    if synced and state["mode"] == "600":
        host.noop(f"{env_file} (0600) holds the exporter's current ACL credential")
        return
    yield StringCommand(
        "IFS= read -r p && chmod 0600",
        QuoteString(env_file),
        "&& sed -i '/^REDIS_PASSWORD=/d; /^REDIS_USER=/d'",
        QuoteString(env_file),
        '&& printf "REDIS_USER=exporter\\nREDIS_PASSWORD=\'%s\'\\n" "$p" >>',
        QuoteString(env_file),
        f"&& systemctl restart {unit}",
        _stdin=password + "\n",
    )
