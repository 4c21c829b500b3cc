"""TLS for all communications (SEC-03): every network listener speaks TLS.

SSH (its own encryption) is exempt; port 80 passes only when it redirects to https. The
certificate of every TLS port is shown with its expiry; an expired one, or one expiring within
``tls_renew_days``, fails the item.
"""

from __future__ import annotations

from hardening.checks import HostContext, check
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
    if plaintext or expiring:
        fix = FIX if plaintext else "renew the certificates (pyinfra ... deploys/tls.py)"
        return Outcome.failed(evidence, fix=fix)
    return Outcome.passed(evidence)


def _expiry(cert: dict) -> str:
    """``, expires 2027-02-25`` for a parsed certificate, ``""`` when none was read."""
    return f", expires {cert['not_after'][:10]}" if "not_after" in cert else ""
