"""SEC-01: default passwords replaced wherever the service is installed."""

from __future__ import annotations

from pyinfra.api import deploy

from hardening.operations import postgres as postgres_ops
from hardening.operations import redis as redis_ops


@deploy("Default passwords replaced")
def default_passwords() -> None:
    # wherever the service is installed, not only in its group: a forgotten Redis counts too
    postgres_ops.no_default_logins(name="PostgreSQL: no default or trust logins")
    redis_ops.require_password(name="Redis: requires a generated password")
