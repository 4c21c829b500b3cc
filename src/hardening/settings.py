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
        "Path of the repository in the bucket; empty: /pgbackrest/<name of the db_primary host>"
        " (shared by the primary and its standbys).",
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
    Setting(
        "monitoring_tls",
        True,
        "bool",
        "Prometheus, Alertmanager and the exporters serve TLS 1.2+ with certificates of the "
        "internal CA and Prometheus scrapes them over https (SEC-03).",
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
    # secrets (SEC-08): scheduled rotation and JWT key rotation (issue 5)
    Setting(
        "rotation_controller",
        False,
        "bool",
        "This host (normally the control node, `@local`, with the toolkit installed) runs "
        "the hardening-rotate timer that rotates every host's due credentials "
        "(deploys/rotation_timer.py); SEC-08 then also requires that timer here.",
    ),
    Setting(
        "rotation_on_calendar",
        "daily",
        "str",
        "When the hardening-rotate timer on the rotation_controller host runs "
        "`hardening rotate` (systemd OnCalendar); each run rotates only what is due.",
    ),
    Setting(
        "rotation_inventory",
        "/etc/hardening/inventory.py",
        "str",
        "The pyinfra inventory the rotation timer passes to `hardening rotate` (a path on the "
        "controller).",
    ),
    Setting(
        "jwt_keys_file",
        "",
        "str",
        "JWKS-like file of the application's JWT keys (kid -> key, current kid) kept from "
        "the secrets backend and rotated by deploys/rotate_credentials.py; the application "
        "reads it as JWT_KEYS_FILE. Empty: no key rotation (JWT_SECRET only).",
    ),
    Setting(
        "jwt_keys_owner",
        "hardening-demo-app",
        "str",
        "Owner (user and group) of jwt_keys_file, mode 0600.",
    ),
    Setting(
        "jwt_verify_url",
        "http://127.0.0.1:8000/api/session",
        "str",
        "Application URL that answers 200 for a valid bearer token: a rotated JWT key is "
        "promoted only after a token signed with it verifies there.",
    ),
    Setting(
        "jwt_max_token_lifetime_seconds",
        3600,
        "int",
        "Longest lifetime of a token the application issues: an old JWT key keeps verifying "
        "this long after a new one signs, then it is removed.",
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
    # -- runbooks, compliance documents, DR objectives (issue 10, deploys/runbooks.py) --
    Setting(
        "docs_inventory_path",
        "inventories/prod.py",
        "str",
        "Inventory file named in the commands of the generated runbooks.",
    ),
    Setting(
        "app_service",
        "hardening-demo-app",
        "str",
        "systemd unit of the application on web hosts (deploys/restart_app.py).",
    ),
    Setting(
        "app_health_url",
        "http://127.0.0.1:8000/healthz",
        "str",
        "Health endpoint each web host must answer with 200 after a restart (health gate).",
    ),
    Setting(
        "app_restart_timeout",
        60,
        "int",
        "Seconds deploys/restart_app.py waits for the health gate before it stops the roll.",
    ),
    Setting("sla_availability_percent", "99.9", "str", "DOC-08: monthly availability target."),
    Setting("sla_response_time_ms", 2000, "int", "DOC-08: p95 response time target (ms)."),
    Setting(
        "sla_error_rate_5xx_percent", 5, "int", "DOC-08: HTTP 5xx rate above which it is down."
    ),
    Setting("sla_error_rate_4xx_percent", 10, "int", "DOC-08: HTTP 4xx rate warning level."),
    Setting(
        "rto_noncritical_seconds",
        14400,
        "int",
        "DR-RTO-02: recovery time target of non-critical services (the measured app restart).",
    ),
    Setting(
        "dr_drill_calendar",
        "*-*-01 04:30:00",
        "str",
        "OPS-M-03/STAB-07: systemd OnCalendar of the DR drill on db hosts (monthly).",
    ),
    Setting(
        "dr_drill_max_age_days",
        31,
        "int",
        "OPS-M-03/STAB-07 fail when the last successful DR drill is older than this.",
    ),
    Setting(
        "incident_operator_source",
        "",
        "str",
        "Address that may still SSH to a host isolated by deploys/incident.py; empty: the "
        "source address of the pyinfra connection itself.",
    ),
    # -- web tier: nginx, ModSecurity WAF, haproxy (issue 8: SEC-05, SEC-06, FE-05, FE-06,
    #    PERF-08, INF-04, INF-01; deploys/web.py) --
    Setting(
        "web_cors_origins",
        [],
        "list[str]",
        "Origins allowed to call /api/ from a browser (CORS allowlist), e.g. "
        "['https://app.example.net']. Empty: no cross-origin access. '*' is refused together "
        "with web_cors_allow_credentials.",
    ),
    Setting(
        "web_cors_allow_credentials",
        False,
        "bool",
        "Send Access-Control-Allow-Credentials: true to allowed origins (cookies, auth).",
    ),
    Setting(
        "web_rate_limit_per_second",
        10,
        "int",
        "Requests per second and client address nginx accepts on /api/ (limit_req).",
    ),
    Setting(
        "web_rate_limit_burst",
        20,
        "int",
        "Requests beyond the rate accepted at once (burst, nodelay); more get 429.",
    ),
    Setting(
        "web_conn_limit",
        20,
        "int",
        "Concurrent connections per client address on /api/ (limit_conn); more get 429.",
    ),
    Setting(
        "web_api_cache_seconds",
        5,
        "int",
        "How long nginx caches 200 answers to API GETs the app does not mark private or "
        "no-store (proxy_cache; requests with a session cookie or Authorization bypass it).",
    ),
    Setting(
        "web_api_cache_paths",
        ["/api/items"],
        "list[str]",
        "API GET paths nginx micro-caches for web_api_cache_seconds even when the app "
        "answers no-store (public data only; sessions and Authorization still bypass).",
    ),
    Setting(
        "web_static_root",
        "/srv/hardening-demo-app/static",
        "str",
        "Static bundle nginx serves (fingerprinted names cached a year, HTML never).",
    ),
    Setting(
        "web_max_body_size",
        "10m",
        "str",
        "nginx client_max_body_size (uploads).",
    ),
    Setting(
        "web_waf_paranoia_level",
        1,
        "int",
        "OWASP CRS paranoia level 1-4 of the ModSecurity WAF (blocking mode). 1 blocks "
        "classic SQLi/XSS/traversal with few false positives; 2+ needs exclusion rules.",
    ),
    Setting(
        "web_app_servers",
        ["127.0.0.1:8000"],
        "list[str]",
        "Application instances haproxy balances (host:port), health-checked on /healthz.",
    ),
    Setting(
        "web_lb_port",
        8080,
        "int",
        "Loopback port of the haproxy frontend nginx proxies to.",
    ),
    Setting(
        "web_websocket_timeout",
        3600,
        "int",
        "Seconds an idle WebSocket (/ws) stays open through nginx and haproxy.",
    ),
    # -- Deployment day (issue 9, `hardening deploy-day`, deploys/release.py) --
    Setting("deployday_release", "", "str", "Release being deployed (set by deploy-day)."),
    Setting(
        "deployday_phase",
        "all",
        "str",
        "deploys/release.py phase: preflight, backend, frontend, post, watch or all.",
    ),
    Setting(
        "deployday_app_dir",
        "/opt/hardening-demo-app",
        "str",
        "App directory: releases/<version>/ and the `current` symlink.",
    ),
    Setting(
        "deployday_static_dir",
        "/srv/hardening-demo-app/static",
        "str",
        "Served static bundle (a symlink to releases/<version>/static after a release).",
    ),
    Setting("deployday_service", "hardening-demo-app", "str", "systemd unit of the backend."),
    Setting("deployday_app_url", "http://127.0.0.1:8000", "str", "Backend URL on the host."),
    Setting("deployday_health_path", "/healthz", "str", "Health endpoint of the backend."),
    Setting(
        "deployday_websocket_path",
        "/ws",
        "str",
        "WebSocket echo endpoint verified after a release (empty: no WebSocket gate).",
    ),
    Setting(
        "deployday_release_src",
        "",
        "str",
        "Local release directory uploaded to releases/<release> (set by deploy-day).",
    ),
    Setting(
        "deployday_started",
        "",
        "str",
        "UTC start of the deployment, for log scans (set by deploy-day).",
    ),
    Setting("deployday_health_timeout", 30, "int", "Seconds to wait for a healthy backend."),
    Setting(
        "deployday_smoke_paths",
        ["/healthz", "/api/items", "/"],
        "list[str]",
        "Critical paths that must answer 200 after a release (DEP-05).",
    ),
    Setting(
        "deployday_integration_urls",
        [],
        "list[str]",
        "URLs of integrations that must answer 200 from the hosts after a release (POST-02).",
    ),
    Setting(
        "deployday_webhook_url",
        "",
        "str",
        "Webhook (JSON POST from the control node) for maintenance/success notifications.",
    ),
    Setting(
        "deployday_regression_command",
        "",
        "str",
        "Regression suite run on the control node after a release (e.g. pytest tests/smoke).",
    ),
    Setting(
        "deployday_integrity_tables",
        [],
        "list[str]",
        "database/table entries whose row counts are compared with the snapshot (STAB-04).",
    ),
    Setting(
        "deployday_schema_query",
        "",
        "str",
        "SQL returning the schema version (e.g. SELECT max(version) FROM schema_migrations).",
    ),
    Setting("deployday_prometheus_url", "http://127.0.0.1:9090", "str", "Prometheus API URL."),
    Setting("deployday_max_error_permille", 10, "int", "Highest 5xx ratio, per mille (DEP-06)."),
    Setting("deployday_max_p95_ms", 500, "int", "Highest p95 latency in ms (POST-04)."),
    Setting("deployday_watch_interval", "15min", "str", "Watch sampling interval (24-48 h)."),
    Setting("deployday_watch_hours", 48, "int", "Hours the watch samples after a release."),
    Setting(
        "deployday_gates",
        "",
        "str",
        "JSON of control-node gates recorded on the hosts (set by deploy-day, not by hand).",
    ),
    # -- OS baseline and scheduled security jobs (issue 4, deploys/os_baseline.py) --
    Setting(
        "os_baseline_router",
        False,
        "bool",
        "This host routes packets: keep net.ipv4.ip_forward / ipv6 forwarding on.",
    ),
    Setting(
        "os_baseline_sysctls",
        {},
        "sysctls",
        "Overrides of the baseline sysctls (/etc/sysctl.d/61-hardening-baseline.conf), "
        "name -> value; SEC-07's DDoS keys are set with ddos_sysctls instead.",
    ),
    Setting("os_password_max_days", 60, "int", "login.defs PASS_MAX_DAYS for new accounts."),
    Setting("os_password_min_days", 7, "int", "login.defs PASS_MIN_DAYS for new accounts."),
    Setting("os_password_warn_age", 7, "int", "login.defs PASS_WARN_AGE for new accounts."),
    Setting(
        "os_disabled_modules",
        ["cramfs", "freevxfs", "hfs", "hfsplus", "jffs2", "udf", "dccp", "sctp", "rds", "tipc"],
        "list[str]",
        "Kernel modules (rare filesystems and network protocols, CIS / dev-sec list) that "
        "/etc/modprobe.d/60-hardening-disable.conf makes unloadable; squashfs is left out by "
        "default because snaps and live media need it: add it where neither is used.",
    ),
    Setting(
        "os_disable_usb_storage",
        True,
        "bool",
        "Also disable usb-storage (CIS, dev-sec): servers in a rack or cloud have no USB "
        "disks; set false on hosts that back up to or boot from USB media.",
    ),
    Setting("os_password_min_length", 12, "int", "pam_unix minlen for new passwords."),
    Setting(
        "os_faillock_deny",
        5,
        "int",
        "pam_faillock: password failures in fail_interval that lock an account (root is never "
        "locked; SSH key logins do not count).",
    ),
    Setting(
        "os_faillock_unlock_time",
        900,
        "int",
        "pam_faillock: seconds a locked account stays locked (0: until an admin runs faillock).",
    ),
    Setting(
        "os_ntp_servers",
        ["0.debian.pool.ntp.org", "1.debian.pool.ntp.org", "2.debian.pool.ntp.org"],
        "list[str]",
        "NTP servers systemd-timesyncd uses on VMs and bare metal (containers use the host "
        "kernel's clock); an internal time source is better where there is one.",
    ),
    Setting(
        "security_jobs_run_now",
        True,
        "bool",
        "Run each scheduled security job once when it is installed, so the first audit "
        "has a result (Lynis takes about 30 s).",
    ),
    Setting(
        "security_lynis_timeout",
        900,
        "int",
        "Seconds the monthly Lynis audit may run before it is stopped and reported failed.",
    ),
    Setting(
        "perf_report_prometheus_url",
        "http://127.0.0.1:9090",
        "str",
        "Prometheus the weekly performance report (OPS-W-03) queries, on monitoring hosts.",
    ),
    # Logs: forwarding, central retention, error review, configuration backups (logs).
    Setting(
        "log_host",
        "",
        "str",
        "Inventory name of the central log host; empty: the first host of group monitoring.",
    ),
    Setting(
        "logs_transport",
        "relp",
        "str",
        "How logs reach the log host: relp (acknowledged, installs rsyslog-relp) or tcp "
        "(plain TCP, unencrypted: only on a trusted network).",
    ),
    Setting("logs_port", 2514, "int", "Port the central log host receives logs on."),
    Setting(
        "logs_tls",
        True,
        "bool",
        "RELP over TLS (logs_transport relp): certificates of the internal CA on the log host "
        "and every sender, peers checked by certificate name.",
    ),
    Setting("logs_retention_days", 30, "int", "DR-BAK-02: days the central logs are kept."),
    Setting(
        "logs_max_delay_seconds",
        300,
        "int",
        "DR-RPO-02: longest acceptable forwarding delay of a marker line, in seconds.",
    ),
    Setting(
        "logs_rpo_hours",
        24,
        "int",
        "DR-RPO-02: the newest marker of every host must have arrived within these hours.",
    ),
    Setting(
        "logs_watched_units",
        ["hardening-demo-app.service", "nginx.service", "postgresql@15-main.service"],
        "list[str]",
        "DEP-02/POST-05/STAB-03: backend units whose journal errors fail the log review.",
    ),
    Setting(
        "logs_max_errors",
        0,
        "int",
        "DEP-02/POST-05/STAB-03: error lines a watched unit may log (last hour / 24 h).",
    ),
    Setting(
        "logs_max_warnings",
        100,
        "int",
        "POST-05: warning lines per hour a watched unit may log.",
    ),
    Setting("logs_review_calendar", "*-*-* 06:30", "str", "OPS-D-02: when the daily review runs."),
    Setting(
        "config_backup_destination",
        "/var/backups/hardening-config",
        "str",
        "DR-BAK-03: directory of the weekly configuration archives (0700).",
    ),
    Setting("config_backup_keep_weeks", 12, "int", "DR-BAK-03: weeks archives are kept."),
    Setting(
        "config_backup_calendar",
        "Sun *-*-* 02:30",
        "str",
        "DR-BAK-03: when the weekly configuration backup runs.",
    ),
    # -- cloud items and reserved capacity (issue 10 item 6: INF-02, INF-03, INF-08) --
    Setting(
        "cloud",
        {},
        "cloud",
        "Where the deployment runs. Empty or {'provider': 'self-hosted'}: no cloud (INF-02/03 "
        "not applicable). AWS: {'provider': 'aws', 'region': 'eu-west-1', 'autoscaling_group': "
        "'web', 'cpu_target': 60, 'min_desired_capacity': 2, 'min_max_capacity': 4, "
        "'cloudfront': {'origin_domain': 'static.example.net', 'origin_path': '/static', "
        "'default_ttl': 86400}, 'waf': {'name': 'hardening-edge', 'load_balancer_arn': "
        "'arn:aws:elasticloadbalancing:...'}, 'rds_instances': ['app-db'] (SEC-09: "
        "StorageEncrypted)} (endpoint_url only for tests/VPC endpoints). "
        "Credentials: the standard AWS chain, never inventory. See docs/cloud.md.",
    ),
    Setting(
        "self_hosted_cdn",
        "",
        "str",
        "The self-hosted alternative to a CDN, if any (e.g. 'nginx proxy_cache for /static on "
        "web hosts'); shown in INF-03's evidence when no cloud provider is configured.",
    ),
    Setting(
        "capacity_min_cpus",
        2,
        "int",
        "INF-08: CPUs each host must have (cgroup limits count).",
    ),
    Setting(
        "capacity_min_memory_mb",
        2048,
        "int",
        "INF-08: memory each host must have, in MB (cgroup limits count).",
    ),
    Setting(
        "capacity_min_disk_free_gb",
        5,
        "int",
        "INF-08: free space each host must have on /, in GB.",
    ),
    # -- reference application and its probes (issue 9, deploys/app.py) --
    Setting(
        "app_service",
        "hardening-demo-app",
        "str",
        "systemd unit of the application on web hosts (probes read its state and "
        "EnvironmentFile=; deploys/app.py installs the reference app under this name).",
    ),
    Setting(
        "app_base_url",
        "http://127.0.0.1:8000",
        "str",
        "URL at which probes run ON the host reach the application (APP-*, FE-04, PERF-*).",
    ),
    Setting(
        "app_static_dir",
        "/srv/hardening-demo-app/static",
        "str",
        "Directory of the built front-end bundle (FE-01..04, PERF-06, PERF-07).",
    ),
    Setting(
        "app_public_url",
        "",
        "str",
        "Public production URL of the application, compiled into the bundle and API_BASE_URL "
        "(empty: https://<inventory host name>).",
    ),
    Setting(
        "app_production_hosts",
        [],
        "list[str]",
        "Host names the bundle and API_BASE_URL may point at (FE-02, FE-03, APP-01); empty: "
        "the host of app_public_url.",
    ),
    Setting(
        "app_required_env",
        {"DATABASE_URL": ["url"], "JWT_SECRET": ["secret"], "API_BASE_URL": ["production_url"]},
        "env_rules",
        "Variables the application needs (APP-01) and their rules: 'url', 'production_url' "
        "(host in app_production_hosts), 'secret' (32+ alphanumeric characters); every "
        "variable must be non-empty and not a placeholder.",
    ),
    Setting(
        "app_otlp_endpoint",
        "",
        "str",
        "OTLP/HTTP collector the reference app exports traces to (OTLP_ENDPOINT); empty: none.",
    ),
    Setting(
        "app_max_upload_bytes",
        10485760,
        "int",
        "Largest upload the application accepts; nginx client_max_body_size must agree (APP-05).",
    ),
    Setting("app_offline_route", "/offline.html", "str", "Page served offline (APP-04)."),
    Setting(
        "app_error_route",
        "/api/error",
        "str",
        "Declared failing route: must answer 5xx with a JSON {'error': ...} body (APP-06).",
    ),
    Setting("app_load_clients", 20, "int", "Concurrent clients of the bounded load probe."),
    Setting("app_load_requests", 10, "int", "Requests per client of the bounded load probe."),
    Setting(
        "app_max_error_rate_percent",
        1,
        "int",
        "Highest error rate (%) the load probe tolerates (APP-08, PERF-01).",
    ),
    Setting("app_sla_p95_ms", 500, "int", "Response time SLA: p95 in milliseconds (PERF-05)."),
    Setting(
        "app_bundle_budget_kb",
        250,
        "int",
        "Budget of the bundle's scripts, styles and HTML, gzip-compressed, in KiB (PERF-06).",
    ),
    Setting(
        "app_asset_budget_kb",
        150,
        "int",
        "Budget of the largest script or style, gzip-compressed, in KiB (PERF-06).",
    ),
    Setting(
        "app_image_max_kb",
        200,
        "int",
        "Largest acceptable image in KiB; PNG/JPEG/GIF above 50 KiB should be WebP/AVIF (PERF-07).",
    ),
)

# Encryption at rest (SEC-09).
SETTINGS += (
    Setting(
        "postgres_data_directory",
        "/var/lib/postgresql/15/main",
        "str",
        "PostgreSQL data directory whose block device must be encrypted (SEC-09).",
    ),
    Setting(
        "postgres_luks_device",
        "",
        "str",
        "Empty block device to turn into a LUKS2 volume for PostgreSQL's data "
        "(deploys/storage.py; e.g. '/dev/disk/by-id/virtio-pgdata'). Empty: never. A device "
        "on which `blkid -p` finds any signature is refused, never formatted.",
    ),
    Setting(
        "postgres_luks_mapping",
        "pgdata",
        "str",
        "dm-crypt name (/dev/mapper/NAME) and LUKS label of the encrypted data volume.",
    ),
    Setting(
        "postgres_luks_mount_point",
        "/var/lib/postgresql",
        "str",
        "Where the encrypted volume is mounted; must be absent or empty (set the volume up "
        "before the cluster exists, or mount it elsewhere and move the data yourself).",
    ),
    Setting(
        "postgres_luks_key_file",
        "",
        "str",
        "Key file of the volume (64 random bytes generated on the host, 0600 root, used by "
        "/etc/crypttab at boot). Empty: /etc/hardening/luks/<mapping>.key.",
    ),
)

# TLS for PostgreSQL and Redis with the internal CA (SEC-03, deploys/tls.py).
SETTINGS += (
    Setting(
        "tls_pki_dir",
        "",
        "str",
        "Control-node directory of the internal CA (ca.key 0600, ca.crt), created on first use; "
        "empty: $HARDENING_PKI_DIR, else ~/.config/hardening/pki/.",
    ),
    Setting("tls_cert_days", 90, "int", "Lifetime in days of a newly issued server certificate."),
    Setting(
        "tls_renew_days",
        30,
        "int",
        "Renew a server certificate when fewer days remain; the audit (SEC-03) fails an "
        "endpoint whose certificate expires within this many days.",
    ),
    Setting(
        "postgres_tls", True, "bool", "PostgreSQL: ssl=on with the CA's certificate, hostssl only."
    ),
    Setting("redis_tls", True, "bool", "Redis: a TLS port with the CA's certificate."),
    Setting("redis_tls_port", 6380, "int", "Redis TLS port (tls-port)."),
    Setting(
        "redis_tls_only",
        False,
        "bool",
        "Redis: port 0 (no plaintext port); switch on once every client speaks TLS.",
    ),
    Setting(
        "redis_tls_auth_clients",
        "no",
        "str",
        "Redis tls-auth-clients: 'no', 'optional' or 'yes' (clients need a certificate "
        "from the CA).",
    ),
)

# Firewall: the central log port (logs work).
SETTINGS += (
    Setting(
        "firewall_log_sources",
        [],
        "addresses",
        "Extra sources allowed to send logs to the log host's RELP port (2514/tcp), besides "
        "the hosts of the inventory's groups.",
    ),
)

# Performance measurements on the hosts (PERF-02, PERF-03, PERF-04).
SETTINGS += (
    Setting(
        "perf_benchmark_queries",
        [],
        "queries",
        "Queries timed by PERF-02 (read-only, EXPLAIN ANALYZE in a rolled-back READ ONLY "
        "transaction, 3 runs): [{'name': ..., 'sql': 'SELECT ...', 'database': 'app'}]. "
        "Empty: the slowest statements pg_stat_statements has tracked are judged.",
    ),
    Setting("perf_query_max_ms", 100, "int", "Median/mean time budget of a query, ms."),
    Setting(
        "perf_min_rows",
        {},
        "table_rows",
        "Realistic data volumes (PERF-04): {'database/schema.table': minimum rows}.",
    ),
    Setting(
        "perf_app_memory_max_mb",
        512,
        "int",
        "Resident memory the application may use (PERF-03), MB.",
    ),
)

# Redis hardening: interfaces, memory limit and eviction, persistence (redis work).
SETTINGS += (
    Setting(
        "redis_bind",
        ["127.0.0.1", "-::1"],
        "list[str]",
        "Addresses Redis listens on (plaintext and tls-port alike; '-' prefix: skip if absent). "
        "Add the host's address only when other hosts use Redis (prefer its TLS port then).",
    ),
    Setting(
        "redis_maxmemory_percent",
        25,
        "int",
        "Redis maxmemory as a percentage of the host's memory (1-90).",
    ),
    Setting(
        "redis_maxmemory_policy",
        "allkeys-lru",
        "str",
        "Redis eviction policy when maxmemory is reached (allkeys-lru for a cache; "
        "noeviction when Redis holds data that must not be dropped).",
    ),
    Setting(
        "redis_save",
        "3600 1 300 100 60 10000",
        "str",
        "Redis RDB snapshot points ('SECONDS CHANGES' pairs); empty: no snapshots.",
    ),
    Setting("redis_appendonly", False, "bool", "Redis append-only file (AOF) persistence."),
)

# Frontend browser probe: responsive design and WCAG 2.1 (FE-07, FE-08; frontend work).
SETTINGS += (
    Setting(
        "frontend_url",
        "",
        "str",
        "Origin at which the control node's headless Chromium loads the declared pages "
        "(FE-07, FE-08); empty: https://<ssh_hostname or host name> (http:// when web_tls is "
        "off). Requests to any other "
        "host are blocked; certificate errors are ignored (not what these items judge).",
    ),
    Setting(
        "frontend_pages",
        ["/"],
        "list[str]",
        "Paths of the pages the browser probe loads (FE-07, FE-08); each must answer < 400.",
    ),
    Setting(
        "frontend_viewports",
        ["375x667", "768x1024", "1366x768", "1920x1080"],
        "list[str]",
        "Viewports WIDTHxHEIGHT (phone, tablet, laptop, desktop) at which FE-07 checks each "
        "page: meta viewport, no horizontal overflow, no visible element wider than the "
        "viewport, text not below frontend_min_font_px. axe-core runs at the first one.",
    ),
    Setting("frontend_min_font_px", 12, "int", "Smallest acceptable text size, px (FE-07)."),
    Setting(
        "frontend_fail_impacts",
        ["critical", "serious"],
        "list[str]",
        "axe-core impacts (WCAG 2.0/2.1 A+AA rules) that fail FE-08; violations of other "
        "impacts (moderate, minor) are listed in the evidence but pass.",
    ),
)

# nginx TLS (SEC-03, web tier).
SETTINGS += (
    Setting(
        "web_tls",
        True,
        "bool",
        "nginx serves the site on 443 (internal CA certificate, Mozilla intermediate) and port "
        "80 only redirects to https (SEC-03). False: plain HTTP on port 80 (SEC-03 fails).",
    ),
    Setting(
        "web_hsts_include_subdomains",
        False,
        "bool",
        "Add includeSubDomains to the HSTS header of the HTTPS server (SEC-03).",
    ),
    Setting(
        "web_hsts_preload",
        False,
        "bool",
        "Add preload to the HSTS header of the HTTPS server (SEC-03).",
    ),
)

# Backups on a streaming standby (issue 7 follow-up): replication slots must not fill the disk.
SETTINGS += (
    Setting(
        "postgres_max_slot_wal_keep_size_mb",
        10240,
        "int",
        "max_slot_wal_keep_size in MB (PostgreSQL default: unlimited): WAL a replication slot "
        "may hold back on the primary. An unreachable standby then costs at most this much disk "
        "(size it below the free space of the WAL volume); a standby that falls further behind "
        "loses its slot and catches up from the shared pgBackRest repository (restore_command) "
        "or is rebuilt. 0 or less: unlimited.",
    ),
)

# Certificate issuers (issue 6, SEC-03): internal CA, OpenBao/Vault PKI, operator files.
SETTINGS += (
    Setting(
        "tls_issuer",
        "internal",
        "tls_issuer",
        "Where server certificates come from: 'internal' (the CA in tls_pki_dir), 'vault' "
        "(an OpenBao/Vault PKI engine, see tls_vault_pki) or 'files' (operator-provided pairs, "
        "see tls_certificate_files). Hosts trust that issuer's CA; certificates of another "
        "issuer are replaced. A refused token, a missing role or file, a key that does not "
        "match or a SAN that does not cover the host stop the run with one line: the previous "
        "certificate stays and nothing is reloaded; so does an unreachable OpenBao/Vault when "
        "a certificate is due (the others are judged against the CA hosts already trust).",
    ),
    Setting(
        "tls_vault_pki",
        {},
        "tls_vault_pki",
        "tls_issuer 'vault': {'mount': 'pki', 'role': 'hardening', 'address': "
        "'https://bao:8200', 'token_file': '/etc/hardening/vault-token', 'verify': True}. "
        "address, token_file and verify default to a vault secrets_backend's; the token "
        "(VAULT_TOKEN or token_file) needs update on <mount>/issue/<role> and read on "
        "<mount>/ca/pem and <mount>/cert/ca_chain. The role's max_ttl must exceed "
        "tls_renew_days.",
    ),
    Setting(
        "tls_certificate_files",
        {},
        "tls_certificate_files",
        "tls_issuer 'files': control-node paths per certificate, keyed by the certificate's "
        "file name under /etc/ssl/hardening (postgresql, redis, nginx, ...): {'postgresql': "
        "{'cert': '/srv/tls/db1.crt', 'key': '/srv/tls/db1.key', 'ca': '/srv/tls/ca.crt'}}. "
        "Each pair is checked before upload (key matches, SAN covers the host's name and "
        "address, signed by ca, not expired); hosts trust every ca. The toolkit cannot renew "
        "them: replace the files before tls_renew_days (the audit warns).",
    ),
    # --- pgBouncer client/server TLS and replication over verified TLS (issue 6, engineer 2) ---
    Setting(
        "pgbouncer_tls",
        True,
        "bool",
        "pgBouncer TLS when postgres_tls is on too: a certificate from the internal CA, "
        "clients on TCP must use TLS 1.2+ (pgbouncer_client_tls_sslmode), and PostgreSQL is "
        "reached with server_tls_sslmode verify-full once it offers a certificate of the CA. "
        "Standbys stream with sslmode=verify-full under postgres_tls alone.",
    ),
    Setting(
        "pgbouncer_client_tls_sslmode",
        "require",
        "str",
        "pgBouncer client_tls_sslmode: require (TLS, no client certificate), verify-ca or "
        "verify-full (clients must also present a certificate of the CA).",
    ),
    Setting(
        "pgbouncer_listen_addresses",
        [],
        "list[str]",
        "Addresses pgBouncer listens on. Empty: 127.0.0.1, plus the host's inventory address "
        "when postgres_client_networks is declared (network clients).",
    ),
)

# Prometheus reads nginx's counters (issue 8, monitoring through nginx; web tier).
SETTINGS += (
    Setting(
        "web_nginx_exporter",
        True,
        "bool",
        "Install prometheus-nginx-exporter on web hosts (loopback only, reads nginx's "
        "stub_status); Prometheus scrapes it through nginx as job nginx (/nginx-metrics, "
        "monitoring hosts only).",
    ),
    Setting(
        "web_stub_status_port",
        8081,
        "int",
        "Loopback port of nginx's stub_status server (read by the nginx exporter).",
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


def _tls_issuer_problems(key: str, value: Any) -> list[str]:
    from hardening.pki_issuers import config_problems

    return config_problems(key, value)


def _cloud_problems(value: Any) -> list[str]:
    from hardening.cloud import config_problems

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
    "tls_issuer": _tls_issuer_problems,
    "tls_vault_pki": _tls_issuer_problems,
    "tls_certificate_files": _tls_issuer_problems,
    "env_rules": lambda key, value: _env_rule_problems(key, value),
    "cloud": lambda key, value: _cloud_problems(value),
    "queries": _type_problem(
        lambda v: (
            isinstance(v, list | tuple)
            and all(isinstance(q, dict) and {"name", "sql"} <= set(q) for q in v)
        ),
        "{key} must be a list of {{'name': ..., 'sql': ...}} entries",
    ),
    "table_rows": _type_problem(
        lambda v: (
            isinstance(v, dict)
            and all(isinstance(n, int) and not isinstance(n, bool) for n in v.values())
        ),
        "{key} must map 'database/schema.table' to a whole number of rows",
    ),
    "keyring": _type_problem(
        lambda v: (
            isinstance(v, dict)
            and all(isinstance(e, dict) and isinstance(e.get("key"), str) for e in v.values())
        ),
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


#: Rules an ``app_required_env`` variable may carry (APP-01).
ENV_RULES = ("url", "production_url", "secret")


def _env_rule_problems(key: str, value: Any) -> list[str]:
    if not isinstance(value, dict):
        return [f"{key} must map variable names to lists of rules, got {type(value).__name__}"]
    problems = []
    for name, rules in value.items():
        if not isinstance(rules, list | tuple) or any(rule not in ENV_RULES for rule in rules):
            problems.append(f"{key}: {name}: rules must be a list of {', '.join(ENV_RULES)}")
    return problems
