"""TLS for all communications (SEC-03): every network listener speaks TLS, and the database
links are encrypted and verified (pgBouncer's clients and server leg, streaming replication).

SSH (its own encryption) is exempt; port 80 passes only when it redirects to https. The
certificate of every TLS port is shown with its expiry; an expired one, or one expiring within
``tls_renew_days``, fails the item.
"""

from __future__ import annotations

from hardening.checks import HostContext, check
from hardening.facts.pgbouncer import PgbouncerConfig
from hardening.facts.postgres import PostgresReplicationTls
from hardening.facts.tls import TlsListeners
from hardening.pki import days_left
from hardening.results import Outcome
from hardening.settings import parse_port, setting

FIX = (
    "enable TLS on each listed service (nginx 443 with an HTTP->HTTPS redirect, PostgreSQL "
    "ssl=on with hostssl lines, Redis tls-port with port 0, exporters behind TLS)"
)


@check("tls.everywhere")
def tls_everywhere(ctx: HostContext) -> Outcome:
    """Fail when a service reachable from the network answers without TLS."""
    fact = ctx.fact(TlsListeners)
    if not fact["openssl"]:
        return Outcome.failed("openssl is not installed: TLS cannot be probed", fix=FIX)
    ssh_port = parse_port(ctx.data.get("ssh_port") or 22)[0]
    renew_days = int(setting(ctx.data, "tls_renew_days"))
    plaintext, encrypted, expiring = [], [], []
    for port, speaks_tls in sorted(fact["ports"].items()):
        if port == ssh_port:
            encrypted.append(f"{port} (ssh)")
        elif speaks_tls:
            cert = fact.get("certificates", {}).get(port, {})
            encrypted.append(f"{port} (tls{_expiry(cert)})")
            if "not_after" in cert and days_left(cert["not_after"]) < renew_days:
                expiring.append(f"{port} ({cert['not_after'][:10]})")
        elif port == 80 and fact["redirects"].get(80, "").split(" ", 1)[-1].startswith("https://"):
            encrypted.append("80 (redirects to https)")
        else:
            plaintext.append(str(port))
    evidence = (
        f"network listeners with TLS or SSH: {', '.join(encrypted) or 'none'}; "
        f"plaintext: {', '.join(plaintext) or 'none'}"
    )
    if expiring:
        evidence += f"; certificates expired or expiring within {renew_days} days: "
        evidence += ", ".join(expiring)
    unverified, links = database_links(ctx.fact(PgbouncerConfig), ctx.fact(PostgresReplicationTls))
    if links:
        evidence += "; " + ", ".join(links)
    if unverified:
        evidence += "; database links without (verified) TLS: " + ", ".join(unverified)
    if plaintext or expiring or unverified:
        fix = FIX if plaintext else FIX_LINKS if unverified else FIX_RENEW
        return Outcome.failed(evidence, fix=fix)
    return Outcome.passed(evidence)


FIX_RENEW = "renew the certificates (pyinfra ... deploys/tls.py)"
FIX_LINKS = (
    "pyinfra ... deploys/tls.py, then deploys/postgres.py: pgBouncer client_tls_sslmode=require"
    " and server_tls_sslmode=verify-full, standbys with sslmode=verify-full"
)
#: pgBouncer ``client_tls_sslmode`` values that refuse plaintext clients.
_CLIENT_TLS = ("require", "verify-ca", "verify-full")


def _loopback(address: str) -> bool:
    return address.startswith(("127.", "::1", "[::1]", "localhost", "/"))


def database_links(bouncer: dict, replication: dict) -> tuple[list[str], list[str]]:
    """(problems, evidence) of the database links that TLS must protect: pgBouncer's clients on
    a network address (``client_tls_sslmode`` must refuse plaintext), pgBouncer's server leg to
    another host (``verify-full``), WAL senders on a primary (``pg_stat_ssl``), and a standby's
    WAL receiver (``sslmode=verify-full`` with a root certificate)."""
    problems, evidence = [], []
    settings = bouncer["config"].get("pgbouncer", {}) if bouncer["active"] else {}
    if settings:
        port = settings.get("listen_port", "6432")
        network = [
            a.strip()
            for a in settings.get("listen_addr", "localhost").split(",")
            if a.strip() and not _loopback(a.strip())
        ]
        client = settings.get("client_tls_sslmode", "disable")
        server = settings.get("server_tls_sslmode", "prefer")
        text = f"pgbouncer {port} client_tls_sslmode={client}"
        (problems if network and client not in _CLIENT_TLS else evidence).append(
            text + (f" on {', '.join(network)}" if network else " (loopback only)")
        )
        servers = {
            part.split("=", 1)[1]
            for dsn in bouncer["config"].get("databases", {}).values()
            for part in dsn.split()
            if part.startswith("host=")
        }
        remote = sorted(h for h in servers if not _loopback(h))
        text = f"pgbouncer -> {', '.join(sorted(servers)) or '?'} server_tls_sslmode={server}"
        (problems if remote and server != "verify-full" else evidence).append(text)
    for sender in replication["senders"]:
        tls = f"over {sender['version'] or 'TLS'}" if sender["ssl"] else "without TLS"
        (evidence if sender["ssl"] else problems).append(f"replication to {sender['client']} {tls}")
    receiver = replication["receiver"] or replication["configured"]
    if receiver:
        mode = receiver.get("sslmode", "prefer")
        verified = mode == "verify-full" and receiver.get("sslrootcert")
        text = f"replication from {receiver.get('host', '?')} sslmode={mode}"
        (evidence if verified else problems).append(text)
    return problems, evidence


def _expiry(cert: dict) -> str:
    """``, expires 2027-02-25`` for a parsed certificate, ``""`` when none was read."""
    return f", expires {cert['not_after'][:10]}" if "not_after" in cert else ""
