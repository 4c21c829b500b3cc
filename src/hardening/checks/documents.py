"""DOC-03, DOC-05, DOC-06, DOC-08: compliance documents on the host and current.

The security policy and SLA carry the inventory digest; the architecture diagram the digest
of the inventory and the host's TCP listeners; the access matrix the digest of the
``AccessControl`` fact, which the audit gathers again, so any new user, key, sudo right or
database role makes the matrix stale.
"""

from __future__ import annotations

from dataclasses import replace

from hardening.checks import HostContext, check
from hardening.checks.runbooks import inventory_digest, judge_documents
from hardening.facts.docs import AccessControl
from hardening.facts.network import ListeningSockets
from hardening.results import Outcome
from hardening.runbooks import (
    ACCESS_MATRIX,
    ARCHITECTURE,
    POLICY,
    SLA,
    architecture_digest,
    current_model,
    digest,
)


@check("docs.security_policy")
def security_policy(ctx: HostContext) -> Outcome:
    """DOC-05: the security policy rendered from the current inventory is on the host."""
    return judge_documents(ctx, (POLICY,), inventory_digest(ctx))


@check("docs.sla")
def sla(ctx: HostContext) -> Outcome:
    """DOC-08: the SLA document (inventory ``sla_*`` targets) is on the host and current."""
    outcome = judge_documents(ctx, (SLA,), inventory_digest(ctx))
    targets = (
        f"targets: availability {ctx.setting('sla_availability_percent', '99.9')} %, "
        f"p95 < {ctx.setting('sla_response_time_ms', 2000)} ms, "
        f"5xx < {ctx.setting('sla_error_rate_5xx_percent', 5)} %"
    )
    return replace(outcome, evidence=f"{outcome.evidence}; {targets}")


@check("docs.architecture_diagram")
def architecture_diagram(ctx: HostContext) -> Outcome:
    """DOC-03: the Mermaid diagram of the inventory and this host's listeners is current."""
    model = current_model(ctx.name, ctx.groups, ctx.data)
    expected = architecture_digest(model, ctx.fact(ListeningSockets))
    return judge_documents(ctx, (ARCHITECTURE,), expected)


@check("docs.access_matrix")
def access_matrix(ctx: HostContext) -> Outcome:
    """DOC-06: the access control matrix matches the users, keys and roles on the host now."""
    access = ctx.fact(AccessControl)
    outcome = judge_documents(ctx, (ACCESS_MATRIX,), digest(access))
    summary = (
        f"{len(access['users'])} login users "
        f"({sum(1 for user in access['users'] if user['sudo'])} with sudo), "
        f"{sum(len(user['keys']) for user in access['users'])} SSH keys, "
        + (
            f"{len(access['pg_roles'])} PostgreSQL roles"
            if access["pg_roles"] is not None
            else "no PostgreSQL"
        )
    )
    return replace(outcome, evidence=f"{outcome.evidence}; {summary}")
