"""Attestation checks: the 28 checklist items people sign (``attest.signed``, ``attest.sign_off``).

One check serves many items, and each item has its own records, so these checks judge
the item the audit is evaluating, ``ctx.item``, and are marked ``per_item``: the audit
must not share one outcome between the items naming them. Records are read from the
ledger on the control node (``hardening.attest``), never from the hosts::

    ctx.item = get_item("TEAM-01")
    registry()["attest.signed"](ctx)
    # Outcome(status=ATTESTED, evidence='by Alice (tech-lead) at 2025-01-01 12:00 UTC: https://...')

Every audit verifies each record again (signature, keyring, role, cadence); a record
that does not verify counts as missing and the evidence says why.
"""

from __future__ import annotations

from hardening import attest
from hardening.checks import HostContext, check
from hardening.results import Outcome


def _judge(ctx: HostContext, sign_off: bool) -> Outcome:
    item = ctx.item
    if item is None:
        raise ValueError("attestation checks judge ctx.item, which the audit sets")
    if (item.id in attest.SIGN_OFF_ROLES) != sign_off:
        expected = "attest.sign_off" if item.id in attest.SIGN_OFF_ROLES else "attest.signed"
        return Outcome.failed(
            f"{item.id} must be judged by {expected}", fix="correct the catalog entry"
        )
    return attest.audit_item(item, ctx.data)


@check("attest.signed", per_item=True)
def signed(ctx: HostContext) -> Outcome:
    """A valid signed attestation of ``ctx.item`` exists and is not overdue."""
    return _judge(ctx, sign_off=False)


@check("attest.sign_off", per_item=True)
def signed_off(ctx: HostContext) -> Outcome:
    """The sign-off ``ctx.item`` (SIGN-01..04) is signed by a key allowed that role."""
    return _judge(ctx, sign_off=True)
