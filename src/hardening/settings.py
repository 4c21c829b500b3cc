"""Inventory data keys that hardening reads, their defaults and their validation.

Every knob is a documented inventory data key with a safe default (as in the
dev-sec roles); nothing is hard-coded in operations or checks. Set them in an
inventory file or ``group_data/*.py``::

    db_primary = [("db1.example.net", {"firewall_allowed_ports": [5432, "9187/tcp"]})]

``SETTINGS`` is the reference; ``docs/configuration.md`` is generated from it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    key: str
    default: Any
    kind: str  # "ports", "str", "int", "bool", "list[str]"
    help: str


#: Ports every host in a group must accept from the network, by inventory group.
GROUP_PORTS: dict[str, tuple[str, ...]] = {
    "web": ("80/tcp", "443/tcp"),
    "db_primary": ("5432/tcp", "6432/tcp"),
    "db_replica": ("5432/tcp", "6432/tcp"),
    "cache": ("6379/tcp",),
    "monitoring": ("9090/tcp", "9093/tcp"),
}

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "firewall_allowed_ports",
        [],
        "ports",
        "Extra ports this host accepts from the network, beyond SSH and its groups' "
        "ports (web: 80, 443; db_primary/db_replica: 5432, 6432; cache: 6379; "
        "monitoring: 9090, 9093). Entries: 8080, '8080/tcp' or '514/udp'.",
    ),
    Setting(
        "firewall_enabled",
        True,
        "bool",
        "Let hardening manage the nftables ruleset of this host.",
    ),
    Setting(
        "firewall_rollback_seconds",
        60,
        "int",
        "Seconds after which a newly applied ruleset is rolled back unless a fresh SSH "
        "connection from the control node confirmed it.",
    ),
    Setting(
        "pgbouncer_port",
        6432,
        "int",
        "Port pgBouncer listens on (the port applications connect to).",
    ),
    Setting(
        "pgbouncer_pool_mode",
        "transaction",
        "str",
        "pgBouncer pool_mode: session, transaction or statement.",
    ),
    Setting(
        "pgbouncer_default_pool_size",
        20,
        "int",
        "Server connections per user/database pair.",
    ),
    Setting(
        "pgbouncer_max_client_conn",
        500,
        "int",
        "Maximum client connections pgBouncer accepts.",
    ),
    # --- PostgreSQL hardening, monitoring, replication (issue 7) ---
    Setting(
        "postgres_listen_addresses",
        [],
        "list[str]",
        "Addresses PostgreSQL listens on. Empty: localhost, plus the host's inventory address "
        "when the inventory has database replicas or postgres_client_networks.",
    ),
    Setting(
        "postgres_client_networks",
        [],
        "list[str]",
        "Networks (CIDR) whose clients may log in over TCP with scram-sha-256; everything "
        "else is rejected by pg_hba.conf (localhost and the standbys' replication excepted).",
    ),
    Setting(
        "postgres_log_min_duration_ms",
        1000,
        "int",
        "Statements slower than this are logged (log_min_duration_statement) and count as "
        "slow queries (OPS-W-05); the checklist's 1 s query warning.",
    ),
    Setting("postgres_max_connections", 100, "int", "max_connections of the PostgreSQL server."),
    Setting(
        "postgres_statement_timeout_ms",
        60000,
        "int",
        "statement_timeout: statements running longer are cancelled.",
    ),
    Setting(
        "postgres_idle_in_transaction_timeout_ms",
        300000,
        "int",
        "idle_in_transaction_session_timeout: sessions idle inside a transaction are ended.",
    ),
    Setting("postgres_work_mem_mb", 16, "int", "work_mem per sort/hash operation, in MB."),
    Setting(
        "postgres_shared_buffers_percent",
        25,
        "int",
        "shared_buffers as a percentage of the host's memory (capped, see next key).",
    ),
    Setting(
        "postgres_shared_buffers_max_mb",
        1024,
        "int",
        "Upper bound of shared_buffers in MB.",
    ),
    Setting(
        "postgres_limit_nofile",
        65536,
        "int",
        "LimitNOFILE of the PostgreSQL systemd unit (drop-in).",
    ),
    Setting(
        "postgres_memory_max",
        "",
        "str",
        "MemoryMax of the PostgreSQL systemd unit (e.g. '8G' or '80%'); empty: not set "
        "(cgroup v1 containers cannot enforce it).",
    ),
    Setting(
        "postgres_indexes",
        [],
        "indexes",
        "Indexes to create (CREATE INDEX CONCURRENTLY IF NOT EXISTS) on the primary: "
        "[{'database': 'app', 'table': 'public.orders', 'columns': ['customer_id'], "
        "'name': 'orders_customer_id_idx'}].",
    ),
    Setting(
        "postgres_seq_scan_min_rows",
        10000,
        "int",
        "DB-06: tables with at least this many rows that are mostly read by sequential "
        "scans and have no index on declared columns are findings.",
    ),
    Setting(
        "postgres_slow_queries_acknowledged",
        [],
        "list[str]",
        "pg_stat_statements queryids of slow queries that were reviewed and accepted (OPS-W-05).",
    ),
    Setting(
        "postgres_replication_max_lag_bytes",
        16 * 1024 * 1024,
        "int",
        "DB-03 fails when a standby's replay lag exceeds this many bytes of WAL.",
    ),
    Setting(
        "postgres_replication_max_lag_seconds",
        60,
        "int",
        "DB-03 fails when a standby's replay lag or the heartbeat's age exceeds this.",
    ),
    Setting(
        "postgres_daily_report_time",
        "06:15",
        "str",
        "When the daily PostgreSQL performance report runs (systemd OnCalendar time).",
    ),
    Setting(
        "app_env_file",
        "",
        "str",
        "Environment file of the application (e.g. /etc/myapp/env). Checks read "
        "variable names and strengths from it, never values into reports.",
    ),
    Setting(
        "app_database_url_var",
        "DATABASE_URL",
        "str",
        "Variable in app_env_file that holds the application's database DSN; the pooling "
        "check verifies that it points at pgBouncer.",
    ),
    Setting(
        "jwt_secret_var",
        "JWT_SECRET",
        "str",
        "Variable in app_env_file that holds the JWT signing secret.",
    ),
    Setting(
        "attestations_dir",
        "attestations",
        "str",
        "Directory of signed attestation records, relative to where the audit runs "
        "(HARDENING_ATTESTATIONS overrides it); see docs/attestations.md.",
    ),
    Setting(
        "attestation_keyring",
        {},
        "keyring",
        "Who may sign attestations as which role: {name: {'key': 'ed25519:...', "
        "'roles': ['tech-lead']}}; adds to <attestations_dir>/keyring.json.",
    ),
    # -- firewall sources and host-level DDoS protection (issue 4: SEC-04, SEC-07) --
    Setting(
        "firewall_db_sources",
        [],
        "addresses",
        "Extra IP addresses or networks allowed to reach PostgreSQL/pgBouncer (5432, 6432) "
        "on db hosts, beyond the hosts of groups web, db_primary and db_replica.",
    ),
    Setting(
        "firewall_cache_sources",
        [],
        "addresses",
        "Extra IP addresses or networks allowed to reach Redis (6379) on cache hosts, "
        "beyond the hosts of group web.",
    ),
    Setting(
        "firewall_monitoring_sources",
        [],
        "addresses",
        "Extra IP addresses or networks allowed to scrape exporters (9100, 9187, 9121, "
        "9113), beyond the hosts of group monitoring.",
    ),
    Setting(
        "firewall_conn_rate",
        25,
        "int",
        "New connections per second one source may open to a public port (SSH, and 80/443 "
        "on web); more are dropped (burst: twice as many). 0 disables the limit.",
    ),
    Setting(
        "ddos_sysctls",
        {},
        "sysctls",
        "Overrides of the net.* sysctls set against SYN floods and spoofing (SEC-07), "
        "e.g. {'net.ipv4.tcp_max_syn_backlog': 8192}.",
    ),
    # -- backups with pgBackRest, restore drills, RPO/RTO (issue 7: DB-01, DB-02, PRE-02 ...) --
    Setting(
        "backup_s3_endpoint",
        "",
        "str",
        "S3 endpoint host (name or IP, HTTPS) of the pgBackRest repository; empty: backups "
        "are not configured on this host.",
    ),
    Setting("backup_s3_port", 443, "int", "HTTPS port of the S3 endpoint."),
    Setting("backup_s3_bucket", "pgbackrest", "str", "S3 bucket of the pgBackRest repository."),
    Setting("backup_s3_region", "us-east-1", "str", "S3 region of the bucket."),
    Setting(
        "backup_s3_ca_file",
        "",
        "str",
        "CA certificate (PEM, a path on the control node) that signed the S3 endpoint's "
        "certificate; copied to the host. Empty: the host's system CAs.",
    ),
    Setting(
        "backup_s3_key",
        "",
        "str",
        "S3 access key id; empty: $HARDENING_BACKUP_S3_KEY on the control node. Written to "
        "the host in a 0600 file, never on a command line.",
    ),
    Setting(
        "backup_s3_key_secret",
        "",
        "str",
        "S3 secret key; empty: $HARDENING_BACKUP_S3_KEY_SECRET on the control node.",
    ),
    Setting(
        "backup_repo_path",
        "",
        "str",
        "Path of the repository in the bucket; empty: /pgbackrest/<inventory host name>.",
    ),
    Setting(
        "backup_retention_full",
        2,
        "int",
        "Full backups kept (repo1-retention-full). With weekly fulls, the oldest kept full is "
        "at least (N-1)*7 days old right after a new full: 2 keeps >= 7 days restorable.",
    ),
    Setting(
        "backup_full_calendar", "Sun *-*-* 01:00:00", "str", "systemd OnCalendar of full backups."
    ),
    Setting(
        "backup_diff_calendar",
        "Mon..Sat *-*-* 01:00:00",
        "str",
        "systemd OnCalendar of differential backups (daily between the fulls).",
    ),
    Setting(
        "backup_drill_calendar",
        "*-*-01 03:00:00",
        "str",
        "systemd OnCalendar of the restore drill (monthly).",
    ),
    Setting(
        "backup_start_fast",
        False,
        "bool",
        "Force a checkpoint when a backup starts (faster, more I/O at once).",
    ),
    Setting(
        "backup_max_age_hours",
        26,
        "int",
        "POST-06/OPS-D-04 fail when the newest good backup is older than this.",
    ),
    Setting(
        "preflight_backup_max_age_hours",
        12,
        "int",
        "PRE-02 fails when the newest full backup is older than this (run "
        "deploys/preflight_backup.py before a deployment).",
    ),
    Setting(
        "backup_drill_tables",
        [],
        "list[str]",
        "Tables whose rows the restore drill counts, as 'database/table' or 'table' "
        "(database postgres), e.g. ['app/users'].",
    ),
    Setting("backup_drill_port", 55432, "int", "Port of the drill's temporary PostgreSQL."),
    Setting(
        "backup_drill_max_age_days",
        31,
        "int",
        "DB-02/DR-BAK-04/OPS-M-04 fail when the last successful drill is older than this.",
    ),
    Setting(
        "drill_target",
        "latest",
        "str",
        "Recovery target of deploys/restore_drill.py: latest, or a timestamp "
        "('2024-05-01 12:00:00+00') for point-in-time recovery.",
    ),
    Setting(
        "drill_force",
        False,
        "bool",
        "Let deploys/restore_drill.py empty a scratch directory that is not empty.",
    ),
    Setting("rto_target_seconds", 3600, "int", "DR-RTO-01: the drill's restore time target."),
    Setting(
        "rpo_target_seconds",
        3600,
        "int",
        "DR-RPO-01: the data-loss window target (archive_timeout and the drill's measure).",
    ),
    # monitoring (INF-05, PRE-06, OPS-D-01, OPS-D-05, MON-*): Prometheus and Alertmanager
    Setting(
        "monitoring_scrape_interval",
        "15s",
        "str",
        "Prometheus scrape and rule evaluation interval on monitoring hosts.",
    ),
    Setting(
        "monitoring_webhook_url",
        "",
        "str",
        "Alertmanager webhook receiver for notifications (chat, pager); empty: alerts are "
        "only shown in Alertmanager.",
    ),
    Setting(
        "monitoring_dashboard_path",
        "/var/lib/hardening/dashboards/hardening-overview.json",
        "str",
        "Where the Grafana-importable dashboard of the checklist's alerts is put (PRE-06).",
    ),
    # secrets (SEC-01, SEC-08, SEC-10): backend and rotation
    Setting(
        "secrets_backend",
        {},
        "secrets_backend",
        "Where generated credentials live (the source of truth): {'type': 'vault', "
        "'address': 'https://vault:8200', 'mount': 'secret', 'path_prefix': 'hardening', "
        "'token_file': '/etc/hardening/vault-token'} (token from VAULT_TOKEN or token_file) "
        "or {'type': 'aws', 'region': 'eu-west-1', 'path_prefix': 'hardening'} (standard "
        "AWS credential chain). Empty: Redis passwords are generated on the host only.",
    ),
    Setting(
        "rotation_interval_days",
        30,
        "int",
        "Rotate a credential when it is older than this many days (SEC-08).",
    ),
    Setting(
        "rotation_grace_seconds",
        3600,
        "int",
        "How long the previous credential stays valid after a rotation (longer than the "
        "longest time a client keeps a credential it read before using it).",
    ),
    Setting(
        "rotation_force",
        False,
        "bool",
        "Rotate now even when not due (pyinfra --data rotation_force=True).",
    ),
    # -- SSH server hardening (issue 4, deploys/ssh.py) --
    Setting(
        "ssh_hardening_enabled",
        True,
        "bool",
        "Let hardening manage /etc/ssh/sshd_config.d/10-hardening.conf on this host.",
    ),
    Setting(
        "ssh_permit_root_login",
        "prohibit-password",
        "str",
        "sshd PermitRootLogin: prohibit-password (keys only) or no.",
    ),
    Setting("ssh_max_auth_tries", 3, "int", "sshd MaxAuthTries."),
    Setting("ssh_login_grace_time", 30, "int", "sshd LoginGraceTime in seconds."),
    Setting(
        "ssh_client_alive_interval",
        300,
        "int",
        "sshd ClientAliveInterval in seconds (idle sessions are probed this often).",
    ),
    Setting(
        "ssh_client_alive_count_max",
        2,
        "int",
        "sshd ClientAliveCountMax: unanswered probes before an idle session is closed.",
    ),
    Setting(
        "ssh_allow_users",
        [],
        "list[str]",
        "sshd AllowUsers (empty: not set). Include the user pyinfra connects as!",
    ),
    Setting(
        "ssh_allow_groups",
        [],
        "list[str]",
        "sshd AllowGroups (empty: not set). Include a group of the user pyinfra connects as!",
    ),
)

_BY_KEY = {setting.key: setting for setting in SETTINGS}


def default(key: str) -> Any:
    """The documented default of an inventory key."""
    return _BY_KEY[key].default


def parse_port(entry: Any) -> tuple[int, str]:
    """``22`` / ``"22"`` / ``"514/udp"`` -> ``(port, proto)``; ``ValueError`` if invalid."""
    text = str(entry).strip().lower()
    port_text, _, proto = text.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp"):
        raise ValueError(f"invalid protocol in port {entry!r} (use tcp or udp)")
    if isinstance(entry, bool) or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"invalid port {entry!r} (a number 1-65535, optionally /tcp or /udp)")
    return int(port_text), proto


def _port_problems(key: str, value: Any) -> list[str]:
    if not isinstance(value, list | tuple):
        return [f"{key} must be a list of ports, got {type(value).__name__}"]
    problems = []
    for entry in value:
        try:
            parse_port(entry)
        except ValueError as error:
            problems.append(f"{key}: {error}")
    return problems


def _secrets_backend_problems(key: str, value: Any) -> list[str]:
    from hardening.secrets import config_problems

    return config_problems(value)


def _type_problem(test: Any, message: str) -> Any:
    """A validator that reports ``message`` (formatted with key and value) when ``test`` fails."""

    def validate(key: str, value: Any) -> list[str]:
        return [] if test(value) else [message.format(key=key, value=value, kind=type(value))]

    return validate


#: kind of a Setting -> function (key, value) -> list of problems
_VALIDATORS: dict[str, Any] = {
    "ports": _port_problems,
    "int": _type_problem(
        lambda v: isinstance(v, int) and not isinstance(v, bool),
        "{key} must be a whole number, got {value!r}",
    ),
    "bool": _type_problem(
        lambda v: isinstance(v, bool), "{key} must be true or false, got {value!r}"
    ),
    "str": _type_problem(
        lambda v: isinstance(v, str), "{key} must be a string, got {kind.__name__}"
    ),
    "list[str]": _type_problem(
        lambda v: isinstance(v, list | tuple) and all(isinstance(e, str) for e in v),
        "{key} must be a list of strings, got {value!r}",
    ),
    "sysctls": _type_problem(
        lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v),
        "{key} must be a mapping of sysctl names to values",
    ),
    "addresses": lambda key, value: _address_problems(key, value),
    "indexes": lambda key, value: [f"{key}: {p}" for p in _index_problems(value)],
    "secrets_backend": _secrets_backend_problems,
    "keyring": _type_problem(
        lambda v: isinstance(v, dict)
        and all(isinstance(e, dict) and isinstance(e.get("key"), str) for e in v.values()),
        "{key} must map names to {{'key': 'ed25519:...', 'roles': [...]}}",
    ),
}


def validate_host_data(data: dict[str, Any]) -> list[str]:
    """Problems with the hardening keys of one host's data; empty when all is well."""
    problems: list[str] = []
    for key, setting in _BY_KEY.items():
        if key not in data or data[key] is None:
            continue
        validator = _VALIDATORS.get(setting.kind)
        if validator is not None:
            problems += validator(key, data[key])
    ssh_port = data.get("ssh_port")
    if ssh_port is not None:
        try:
            parse_port(ssh_port)
        except ValueError as error:
            problems.append(f"ssh_port: {error}")
    return problems


def _address_problems(key: str, value: Any) -> list[str]:
    if not isinstance(value, list | tuple):
        return [f"{key} must be a list of IP addresses or networks, got {type(value).__name__}"]
    problems = []
    for entry in value:
        try:
            ipaddress.ip_network(str(entry), strict=False)
        except ValueError:
            problems.append(f"{key}: {entry!r} is not an IP address or network (e.g. 10.0.0.0/24)")
    return problems


def _index_problems(value: Any) -> list[str]:
    """Problems of a ``postgres_indexes`` value: a list of {table, columns, name[, database]}."""
    if not isinstance(value, list | tuple):
        return [f"must be a list of index declarations, got {type(value).__name__}"]
    problems = []
    for entry in value:
        if not isinstance(entry, dict) or not {"table", "columns", "name"} <= set(entry):
            problems.append(f"{entry!r} needs table, columns and name")
        elif not isinstance(entry["columns"], list | tuple) or not entry["columns"]:
            problems.append(f"{entry['name']}: columns must be a non-empty list")
    return problems


def allowed_ports(groups: tuple[str, ...], data: dict[str, Any]) -> set[tuple[int, str]]:
    """Ports the policy lets in from the network: SSH, the groups' ports, extra ports."""
    ports = {parse_port(data.get("ssh_port") or 22)}
    for group in groups:
        ports |= {parse_port(entry) for entry in GROUP_PORTS.get(group, ())}
    extra = data.get("firewall_allowed_ports") or default("firewall_allowed_ports")
    ports |= {parse_port(entry) for entry in extra}
    return ports


def format_ports(ports: set[tuple[int, str]]) -> str:
    """``{(22, 'tcp'), (80, 'tcp')}`` -> ``22/tcp, 80/tcp``."""
    return ", ".join(f"{port}/{proto}" for port, proto in sorted(ports)) or "none"


def setting(data: Any, key: str) -> Any:
    """The value of ``key`` in host data (a dict or pyinfra ``HostData``), else its default."""
    value = data.get(key)
    return default(key) if value is None else value
