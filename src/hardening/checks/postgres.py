"""PostgreSQL checks: connection pooling (DB-04)."""

from __future__ import annotations

from hardening.checks import HostContext, check
from hardening.facts.envfile import EnvFileSummary
from hardening.facts.network import ListeningSockets
from hardening.facts.pgbouncer import PgbouncerConfig
from hardening.results import Outcome
from hardening.settings import default

FIX = "run deploys/postgres.py (pgBouncer in front of PostgreSQL)"


@check("postgres.pooling")
def pooling(ctx: HostContext) -> Outcome:
    """pgBouncer runs, listens, has databases and a pool mode; the app's DSN goes through it."""
    bouncer = ctx.fact(PgbouncerConfig)
    if not bouncer["installed"]:
        return Outcome.failed("pgBouncer is not installed", fix=FIX)
    settings = bouncer["config"].get("pgbouncer", {})
    databases = bouncer["config"].get("databases", {})
    port = int(settings.get("listen_port", 6432))
    wanted_port = ctx.setting("pgbouncer_port", default("pgbouncer_port"))
    listening = any(
        entry["port"] == port and entry["proto"] == "tcp" for entry in ctx.fact(ListeningSockets)
    )
    evidence = [
        f"pgbouncer {'active' if bouncer['active'] else 'inactive'}",
        f"listen_port={port}" + (" (listening)" if listening else " (not listening)"),
        f"pool_mode={settings.get('pool_mode', 'session (default)')}",
        f"databases: {', '.join(sorted(databases)) or 'none'}",
    ]
    problems = []
    if not bouncer["active"] or not listening:
        problems.append("pgBouncer is not running")
    if not databases:
        problems.append("no [databases] entries: clients cannot be pooled")
    if port != wanted_port:
        problems.append(f"listens on {port}, inventory says pgbouncer_port={wanted_port}")
    path = ctx.setting("app_env_file", default("app_env_file"))
    if path:
        var = ctx.setting("app_database_url_var", default("app_database_url_var"))
        url = ((ctx.fact(EnvFileSummary, path=path) or {}).get(var) or {}).get("url")
        if not url:
            problems.append(f"{var} in {path} is missing or not a URL")
        elif url["port"] != port:
            problems.append(f"{var} points at port {url['port']}, not pgBouncer's {port}")
        else:
            evidence.append(f"{var} -> {url['host']}:{url['port']} (through pgBouncer)")
    if problems:
        return Outcome.failed("; ".join(problems + evidence), fix=FIX)
    return Outcome.passed("; ".join(evidence))
