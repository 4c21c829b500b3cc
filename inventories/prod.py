"""Example production inventory (copy it, replace the hosts, keep the groups).

pyinfra inventory format: each module-level list is a group of hosts; each host
is a name or a ``(name, data)`` tuple. hardening reads the groups to decide
what applies where and the data keys documented in docs/configuration.md.

    pyinfra inventories/prod.py deploys/harden.py --dry     # what would change
    pyinfra inventories/prod.py deploys/harden.py           # apply
    hardening audit inventories/prod.py --format html -o report.html

Secrets never go in this file: the secrets backend (Vault/OpenBao or AWS
Secrets Manager) holds them, and the token comes from the environment
(VAULT_TOKEN / AWS credentials), never from the command line.
"""

# Data every host shares (pyinfra's "all" group data).
_common = {
    "ssh_user": "deploy",
    "_sudo": True,
    # "ssh_key": "~/.ssh/deploy_ed25519",
    # Extra ports this host accepts from the network beyond SSH and its groups' ports:
    # "firewall_allowed_ports": ["9100/tcp"],
    # Seconds before an unconfirmed firewall change is rolled back on the host:
    "firewall_rollback_seconds": 60,
}

# nginx + application servers: 80/443 open to everyone.
web = [
    ("web1.example.net", {**_common, "app_env_file": "/etc/myapp/env"}),
    ("web2.example.net", {**_common, "app_env_file": "/etc/myapp/env"}),
]

# PostgreSQL primary: 5432 (and pgBouncer 6432) for the application hosts.
db_primary = [
    ("db1.example.net", {**_common, "pgbouncer_pool_mode": "transaction"}),
]

# Streaming replica of db_primary.
db_replica = [
    ("db2.example.net", {**_common}),
]

# Redis.
cache = [
    ("cache1.example.net", {**_common}),
]

# Prometheus, Alertmanager and the central log host.
monitoring = [
    ("mon1.example.net", {**_common}),
]
