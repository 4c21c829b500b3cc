"""Deploys: operations composed per concern, reading their knobs from inventory data.

One module per component; the scripts in ``deploys/`` only call these, so that a
user's own deploy can do the same::

    from hardening.deploys import firewall, default_passwords
    firewall()
    # weekly/monthly security jobs; their first run sees the hardened host
    security_jobs()
    # very last: the access matrix and architecture diagram describe the hardened host
    runbooks()
    default_passwords()

Each deploy acts only where it applies (by inventory group or by what is
installed) and reads its settings through ``hardening.settings`` so every default
is documented there. ``harden()`` composes them in order.
"""

from __future__ import annotations

from pyinfra.api import deploy

from hardening.deploys._common import require_valid_data
from hardening.deploys.app import app
from hardening.deploys.backups import backups
from hardening.deploys.firewall import firewall
from hardening.deploys.logs import logs
from hardening.deploys.monitoring import monitoring
from hardening.deploys.os_baseline import os_baseline, security_jobs
from hardening.deploys.postgres import (
    connection_pooling,
    postgres_hardening,
    postgres_monitoring,
    replication,
)
from hardening.deploys.redis import redis
from hardening.deploys.runbooks import runbooks
from hardening.deploys.secrets import default_passwords, rotation_timer
from hardening.deploys.ssh import ssh_hardening
from hardening.deploys.storage import encrypted_data_volume
from hardening.deploys.tls import tls
from hardening.deploys.web import web

__all__ = [
    "app",
    "backups",
    "connection_pooling",
    "default_passwords",
    "encrypted_data_volume",
    "firewall",
    "harden",
    "logs",
    "monitoring",
    "os_baseline",
    "postgres_hardening",
    "postgres_monitoring",
    "redis",
    "replication",
    "rotation_timer",
    "runbooks",
    "security_jobs",
    "ssh_hardening",
    "tls",
    "web",
]


@deploy("Harden: every enforceable checklist item that exists so far")
def harden() -> None:
    require_valid_data()  # malformed inventory data: nothing is queued on any host
    default_passwords()
    # only on the host marked rotation_controller: the scheduled rotation (SEC-08)
    rotation_timer()
    # memory limit and eviction (PERF-08), interfaces, persistence; after requirepass/ACLs
    redis()
    os_baseline()
    ssh_hardening()
    # only where the operator names an empty device (postgres_luks_device): LUKS data volume
    encrypted_data_volume()
    postgres_hardening()
    # certificates (PostgreSQL ssl + hostssl, Redis tls-port) before pgBouncer and the
    # standby, which verify the server's certificate once it is from the hardening CA
    tls()
    connection_pooling()
    # the standby is rebuilt here, so the daily report comes after it
    replication()
    postgres_monitoring()
    # the reference application on web hosts (its role goes into pgBouncer's userlist)
    app()
    # nginx (gzip, cache headers, CORS, rate limits, WAF) -> haproxy -> app instances
    web()
    # only where a backup repository is configured (backup_s3_endpoint)
    backups()
    monitoring()
    # log forwarding to the log host (RELP 2514/tcp, opened to inventory hosts by the firewall)
    logs()
    # last: the ruleset (and DDoS sysctls) are checked against what the services listen on
    firewall()
    # weekly/monthly security jobs; their first run sees the hardened host
    security_jobs()
    # very last: the access matrix and architecture diagram describe the hardened host
    runbooks()
