"""DR-RUN-01..05 and DOC-02: the runbooks generated from the inventory are on the host and
current (their digest matches the inventory the audit runs with)."""

from __future__ import annotations

from collections.abc import Iterable

from hardening.checks import HostContext, check
from hardening.facts.docs import DocumentFiles
from hardening.results import Outcome
from hardening.runbooks import DOCS_ROOT, RUNBOOKS, Document, current_digest

FIX = "run deploys/runbooks.py (renders the documents from the inventory onto every host)"


def inventory_digest(ctx: HostContext) -> str:
    """Digest of the inventory the audit runs with (what current documents carry)."""
    return current_digest(ctx.name, ctx.groups, ctx.data)


def judge_documents(ctx: HostContext, docs: Iterable[Document], expected: str) -> Outcome:
    """Pass when every document is on the host, not empty, stamped with ``expected``."""
    files = ctx.fact(DocumentFiles)
    current, missing, stale = [], [], []
    for doc in docs:
        found = files.get(doc.relpath)
        if not found or not found["size"]:
            missing.append(doc.relpath)
        elif found["digest"] != expected:
            stale.append(f"{doc.relpath} (digest {found['digest'] or 'none'}, now {expected})")
        else:
            automation = f", automation {doc.automation}" if doc.automation else ""
            current.append(f"{doc.relpath} ({found['size']} bytes{automation})")
    evidence = []
    if current:
        evidence.append(f"current in {DOCS_ROOT}: " + ", ".join(current))
    if missing:
        evidence.append("missing: " + ", ".join(missing))
    if stale:
        evidence.append("stale (inventory or facts changed since rendered): " + ", ".join(stale))
    text = "; ".join(evidence)
    return Outcome.failed(text, fix=FIX) if missing or stale else Outcome.passed(text)


def _register(doc: Document) -> None:
    name = "runbooks." + doc.relpath.split("/")[-1].removesuffix(".md").replace("-", "_")

    def runbook(ctx: HostContext) -> Outcome:
        return judge_documents(ctx, (doc,), inventory_digest(ctx))

    runbook.__doc__ = f"{doc.item}: runbook {doc.title!r} on the host and current."
    check(name)(runbook)


for _doc in RUNBOOKS:
    _register(_doc)


@check("docs.runbooks")
def all_runbooks(ctx: HostContext) -> Outcome:
    """DOC-02: every runbook is on the host and current."""
    return judge_documents(ctx, RUNBOOKS, inventory_digest(ctx))
