"""TLS for all communications (SEC-03): every network listener speaks TLS.

SSH (its own encryption) is exempt; port 80 passes only when it redirects to https.
"""

from __future__ import annotations

from hardening.checks import HostContext, check
from hardening.facts.tls import TlsListeners
from hardening.results import Outcome
from hardening.settings import parse_port

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
    plaintext, encrypted = [], []
    for port, speaks_tls in sorted(fact["ports"].items()):
        if port == ssh_port:
            encrypted.append(f"{port} (ssh)")
        elif speaks_tls:
            encrypted.append(f"{port} (tls)")
        elif port == 80 and fact["redirects"].get(80, "").split(" ", 1)[-1].startswith("https://"):
            encrypted.append("80 (redirects to https)")
        else:
            plaintext.append(str(port))
    evidence = (
        f"network listeners with TLS or SSH: {', '.join(encrypted) or 'none'}; "
        f"plaintext: {', '.join(plaintext) or 'none'}"
    )
    if plaintext:
        return Outcome.failed(evidence, fix=FIX)
    return Outcome.passed(evidence)
