"""The production-deployment checklist as a catalog of items.

Every item of the checklist appears exactly once, in order, with a stable id::

    >>> from hardening.catalog import CATALOG, get_item
    >>> len(CATALOG)
    150
    >>> get_item("SEC-04").text
    'Configure firewall rules to allow only necessary ports'

The catalog is plain data: it imports nothing from the rest of the package, so
facts, checks, operations and reports may all read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from hardening.catalog.items import ITEMS

KINDS = ("enforce", "probe", "schedule", "alert", "attest")
SEVERITIES = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class Item:
    """One checklist item.

    + id: stable identifier, e.g. ``SEC-04``
    + section: section path, e.g. ``("Pre-Deployment", "Security")``
    + text: the checklist text, verbatim
    + kind: how the toolkit serves it (enforce / probe / schedule / alert / attest)
    + severity: critical / high / medium / low
    + check: name of the check that judges it (see ``hardening.checks``)
    + operation: name of the operation that makes it true, empty if none
    + groups: inventory groups the item applies to; empty means every host
    """

    id: str
    section: tuple[str, ...]
    text: str
    kind: str
    severity: str
    check: str
    operation: str
    groups: tuple[str, ...]

    @property
    def section_title(self) -> str:
        """The section path joined for display: ``Pre-Deployment / Security``."""
        return " / ".join(self.section)


CATALOG: tuple[Item, ...] = tuple(Item(*row) for row in ITEMS)
_BY_ID = {item.id: item for item in CATALOG}


def get_item(item_id: str) -> Item:
    """Return the item with this id; ``KeyError`` names the unknown id."""
    try:
        return _BY_ID[item_id]
    except KeyError:
        raise KeyError(f"unknown checklist item id: {item_id}") from None


def packaged_checklist() -> str:
    """The copy of the checklist Markdown shipped inside the package."""
    return resources.files("hardening.catalog").joinpath("checklist.md").read_text("utf-8")


_ITEM_LINE = re.compile(r"^- \[[ xX]\] (?P<text>.+)$")


def parse_checklist(markdown: str) -> list[tuple[tuple[str, ...], str]]:
    """Parse checklist Markdown into ``(section path, item text)`` pairs, in order.

    ``##`` headings open a section, ``###`` headings a subsection; every
    ``- [ ] text`` line is an item.
    """
    section: list[str] = []
    parsed: list[tuple[tuple[str, ...], str]] = []
    for line in markdown.splitlines():
        if line.startswith("## "):
            section = [line[3:].strip()]
        elif line.startswith("### "):
            section = section[:1] + [line[4:].strip()]
        else:
            match = _ITEM_LINE.match(line.rstrip())
            if match:
                parsed.append((tuple(section), match.group("text")))
    return parsed
