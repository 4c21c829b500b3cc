"""Generated docs stay in step with the catalog and the settings."""

from __future__ import annotations

from pathlib import Path

from hardening.docs import configuration_markdown, update_readme

ROOT = Path(__file__).resolve().parents[2]


def test_readme_coverage_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    assert update_readme(readme) == readme, "run: python3 -m hardening.docs"


def test_configuration_doc_is_current() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text("utf-8")
    assert text == configuration_markdown(), "run: python3 -m hardening.docs"


def test_readme_opens_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    head = readme[: readme.index("## ")]
    assert "hardening demo" in head and "python3 -m pytest" in head
