"""Runbooks and compliance documents generated from the inventory (DR-RUN-*, DOC-02..08).

Every document is Markdown (the architecture diagram: Mermaid) rendered from the Jinja2
templates in ``operations/templates/runbooks/`` with the inventory's real host names,
groups and settings. Its first line carries a digest of what it was rendered from::

    <!-- hardening: digest=3f2a9c0d1e2b4a5f -->

The inventory digest covers host names, addresses, groups and the documented settings
(``hardening.settings.SETTINGS``); a document whose digest differs from the current one is
stale and its check fails. Host-specific documents (access matrix, architecture diagram)
hash the facts they were generated from instead, so the audit can regenerate the digest
from the same facts and compare.

``hardening runbooks --inventory inventories/prod.py --output docs/generated/`` writes the
inventory documents to a directory; ``deploys/runbooks.py`` puts them on every host.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardening.settings import SETTINGS

DOCS_ROOT = "/usr/local/share/hardening"
RUNBOOK_DIR = f"{DOCS_ROOT}/runbooks"
DOCS_DIR = f"{DOCS_ROOT}/docs"
DIGEST_RE = re.compile(r"hardening: digest=([0-9a-f]+)")


@dataclass(frozen=True)
class Document:
    """One generated document: its catalog item, file name, title and automation.

    + relpath: path below ``DOCS_ROOT`` (e.g. ``runbooks/application-restart.md``)
    + automation: the pyinfra deploy that performs it, empty when only people can
    """

    item: str
    relpath: str
    title: str
    automation: str = ""

    @property
    def template(self) -> str:
        return "runbooks/" + Path(self.relpath).name + ".j2"


RUNBOOKS: tuple[Document, ...] = (
    Document(
        "DR-RUN-01", "runbooks/database-failover.md", "Database failover", "deploys/failover.py"
    ),
    Document(
        "DR-RUN-02",
        "runbooks/application-restart.md",
        "Application restart",
        "deploys/restart_app.py",
    ),
    Document("DR-RUN-03", "runbooks/rollback.md", "Rollback procedure", "deploys/rollback.py"),
    Document(
        "DR-RUN-04",
        "runbooks/performance-degradation.md",
        "Performance degradation response",
        "deploys/diagnostics.py",
    ),
    Document(
        "DR-RUN-05",
        "runbooks/security-incident.md",
        "Security incident response",
        "deploys/incident.py",
    ),
)
POLICY = Document("DOC-05", "docs/security-policy.md", "Security policy")
SLA = Document("DOC-08", "docs/sla.md", "Service level agreement")
ARCHITECTURE = Document("DOC-03", "docs/architecture.mmd", "Architecture diagram")
ACCESS_MATRIX = Document("DOC-06", "docs/access-matrix.md", "Access control matrix")
#: Documents rendered from the inventory alone (the same on every host).
INVENTORY_DOCUMENTS: tuple[Document, ...] = (*RUNBOOKS, POLICY, SLA)

_SETTING_KEYS = tuple(s.key for s in SETTINGS if not s.key.endswith("_force"))


def digest(data: Any) -> str:
    """Short, stable SHA-256 of JSON-able ``data`` (16 hex digits)."""
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def host_entry(name: str, groups: Iterable[str], data: dict[str, Any]) -> dict[str, Any]:
    """What the documents know of one host: name, address, groups, documented settings."""
    return {
        "name": name,
        "address": str(data.get("ssh_hostname") or name),
        "groups": sorted(groups),
        "settings": {key: data[key] for key in _SETTING_KEYS if data.get(key) is not None},
    }


#: inventory_model per Inventory: the checks of every host ask for it, and building it reads every
#: host's data (an audit of N hosts would otherwise cost N x N host entries).
_MODELS: weakref.WeakKeyDictionary[Any, list[dict[str, Any]]] = weakref.WeakKeyDictionary()


def inventory_model(inventory: Any) -> list[dict[str, Any]]:
    """The documents' view of a pyinfra ``Inventory`` (every host, sorted by name).

    Built once per inventory object (an inventory does not change during a run); read-only.
    """
    from hardening.inventory import host_groups

    model = _MODELS.get(inventory)
    if model is None:
        model = sorted(
            (host_entry(host.name, host_groups(host), host.data.dict()) for host in inventory),
            key=lambda entry: entry["name"],
        )
        _MODELS[inventory] = model
    return model


_DIGESTS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def current_digest(name: str, groups: Iterable[str], data: dict[str, Any]) -> str:
    """``digest(current_model(...))``, computed once per inventory (every host's documents
    checks ask for it; serialising the whole inventory per host grows with hosts squared)."""
    from pyinfra.context import ctx_inventory

    if not ctx_inventory.isset():
        return digest(current_model(name, groups, data))
    inventory = ctx_inventory.get()
    found = _DIGESTS.get(inventory)
    if found is None:
        found = _DIGESTS[inventory] = digest(inventory_model(inventory))
    return found


def current_model(name: str, groups: Iterable[str], data: dict[str, Any]) -> list[dict]:
    """The inventory model of the running pyinfra state, or this one host when none is set."""
    from pyinfra.context import ctx_inventory

    if ctx_inventory.isset():
        return inventory_model(ctx_inventory.get())
    return [host_entry(name, groups, data)]


def _setting(model: list[dict], key: str) -> Any:
    from hardening.settings import default as setting_default

    for entry in model:
        if key in entry["settings"]:
            return entry["settings"][key]
    return setting_default(key)


def _context(model: list[dict]) -> dict[str, Any]:
    groups: dict[str, list[str]] = {}
    for entry in model:
        for group in entry["groups"]:
            groups.setdefault(group, []).append(entry["name"])
    return {
        "hosts": model,
        "groups": groups,
        "setting": lambda key: _setting(model, key),
        "first": lambda group, default="(none)": (groups.get(group) or [default])[0],
        "inventory": _setting(model, "docs_inventory_path"),
        "runbook_dir": RUNBOOK_DIR,
        "docs_dir": DOCS_DIR,
        "runbooks": RUNBOOKS,
    }


def stamp(text: str, value: str, comment: str = "<!-- {} -->") -> str:
    """Prefix a rendered document with its digest line."""
    return comment.format(f"hardening: digest={value}") + "\n" + text


def read_digest(text: str) -> str:
    """The digest a document was stamped with, empty when none."""
    match = DIGEST_RE.search(text.split("\n", 1)[0])
    return match.group(1) if match else ""


def render_inventory_documents(model: list[dict]) -> dict[str, str]:
    """``{relpath: text}`` of the runbooks, security policy and SLA for this inventory."""
    from hardening.operations._render import render

    value = digest(model)
    context = _context(model)
    return {
        doc.relpath: stamp(render(doc.template, doc=doc, **context), value)
        for doc in INVENTORY_DOCUMENTS
    }


def listeners(sockets: list[dict]) -> list[list]:
    """The stable part of ``ListeningSockets``: TCP ``[port, process, loopback]``, sorted."""
    from hardening.facts.network import is_loopback

    return sorted(
        {
            (entry["port"], entry["process"], is_loopback(entry["address"]))
            for entry in sockets
            if entry["proto"] == "tcp"
        }
    )


def architecture_digest(model: list[dict], sockets: list[dict]) -> str:
    """Digest of what a host's architecture diagram is generated from."""
    return digest({"inventory": digest(model), "listeners": listeners(sockets)})


def render_architecture(model: list[dict], host_name: str, sockets: list[dict]) -> str:
    """Mermaid flowchart: hosts by group, expected flows, and ``host_name``'s listeners."""
    from hardening.operations._render import render

    text = render(
        ARCHITECTURE.template,
        doc=ARCHITECTURE,
        this=host_name,
        listening=[list(entry) for entry in listeners(sockets)],
        node=lambda name: re.sub(r"\W", "_", name),
        **_context(model),
    )
    return stamp(text, architecture_digest(model, sockets), comment="%% {}")


def render_access_matrix(host_name: str, access: dict) -> str:
    """Markdown access control matrix of one host from the ``AccessControl`` fact."""
    from hardening.operations._render import render

    text = render(ACCESS_MATRIX.template, doc=ACCESS_MATRIX, this=host_name, access=access)
    return stamp(text, digest(access))


# -- command line -------------------------------------------------------------------------

Handler = Any


def _write(args: argparse.Namespace) -> int:
    from hardening.errors import HardeningError
    from hardening.inventory import load_inventory

    try:
        model = inventory_model(load_inventory(args.inventory))
        out = Path(args.output)
        for relpath, text in render_inventory_documents(model).items():
            target = out / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            print(target)
    except HardeningError as error:
        print(f"hardening: error: {error}")
        return 2
    except OSError as error:
        print(f"hardening: error: cannot write to {args.output}: {error.strerror}")
        return 2
    return 0


def add_commands(subparsers: Any) -> dict[str, Handler]:
    """Add ``runbooks`` to a CLI; returns ``{"runbooks": handler}`` (``Namespace -> exit``)."""
    parser = subparsers.add_parser(
        "runbooks",
        help="write the runbooks, security policy and SLA generated from an inventory",
        description=(
            "Render the runbooks (database failover, application restart, rollback, "
            "performance degradation, security incident), the security policy and the SLA "
            "from the inventory's hosts, groups and settings into a directory. "
            "`pyinfra INVENTORY deploys/runbooks.py` puts them (plus each host's access "
            "matrix and architecture diagram) on every host under " + DOCS_ROOT + "."
        ),
        epilog="example:\n  hardening runbooks --inventory inventories/prod.py -o docs/generated/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--inventory", "-i", required=True, help="pyinfra inventory file")
    parser.add_argument(
        "--output", "-o", default="docs/generated", help="directory to write (created)"
    )
    return {"runbooks": _write}
