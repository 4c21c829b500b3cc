"""The catalog is the contract: every checklist item, once, in order, verbatim."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from hardening.catalog import (
    CATALOG,
    KINDS,
    SEVERITIES,
    get_item,
    packaged_checklist,
    parse_checklist,
)
from hardening.checks import registry

SHARED = (
    Path(__file__).resolve().parents[2].parent / "shared" / "production-deployment-checklist.md"
)


def _checklists() -> list[tuple[str, str]]:
    sources = [("package copy", packaged_checklist())]
    if SHARED.exists():
        sources.append(("shared checklist", SHARED.read_text("utf-8")))
    return sources


def test_catalog_has_150_items() -> None:
    assert len(CATALOG) == 150


def test_ids_are_unique_and_well_formed() -> None:
    ids = [item.id for item in CATALOG]
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    assert all(re.fullmatch(r"[A-Z]+(-[A-Z]+)?-\d{2}", i) for i in ids), ids


@pytest.mark.parametrize("source", _checklists(), ids=lambda s: s[0])
def test_items_match_checklist_verbatim_and_in_order(source: tuple[str, str]) -> None:
    name, markdown = source
    parsed = parse_checklist(markdown)
    assert len(parsed) == 150, name
    for item, (section, text) in zip(CATALOG, parsed, strict=True):
        assert item.text == text, f"{item.id} reworded against the {name}"
        assert item.section == section, f"{item.id} in the wrong section of the {name}"


def test_package_copy_equals_shared_checklist() -> None:
    if not SHARED.exists():
        pytest.skip("shared checklist not present beside the checkout")
    assert packaged_checklist() == SHARED.read_text("utf-8")


def test_kinds_severities_and_check_names() -> None:
    for item in CATALOG:
        assert item.kind in KINDS, item.id
        assert item.severity in SEVERITIES, item.id
        assert re.fullmatch(r"[a-z_]+\.[a-z_0-9]+", item.check), item.id
        if item.kind == "enforce":
            assert item.operation, f"{item.id} is enforce but names no operation"


def test_every_registered_check_serves_a_catalog_item() -> None:
    named = {item.check for item in CATALOG}
    assert set(registry()) <= named


def test_get_item() -> None:
    assert get_item("SEC-04").text == "Configure firewall rules to allow only necessary ports"
    with pytest.raises(KeyError, match="NOPE-01"):
        get_item("NOPE-01")


def test_parse_checklist_detects_rewording() -> None:
    markdown = packaged_checklist().replace("Enable rate limiting", "Enable rate-limiting")
    texts = [text for _, text in parse_checklist(markdown)]
    assert "Enable rate limiting on API endpoints" not in texts


def test_pyproject_lists_every_package() -> None:
    root = Path(__file__).resolve().parents[2]
    listed = set(re.findall(r'"(hardening(?:\.[a-z_]+)*)"', (root / "pyproject.toml").read_text()))
    on_disk = {"hardening.facts"} | {
        ".".join(path.parent.relative_to(root / "src").parts)
        for path in (root / "src" / "hardening").rglob("__init__.py")
    }
    assert on_disk <= listed, f"add to pyproject packages: {sorted(on_disk - listed)}"
