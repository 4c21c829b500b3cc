"""Generated documentation: the README's coverage table and docs/configuration.md.

    python3 -m hardening.docs          # rewrite both from the catalog and the settings

A unit test fails when the committed text differs from what this generates.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

from hardening.catalog import CATALOG, KINDS
from hardening.checks import registry
from hardening.settings import GROUP_PORTS, SETTINGS

START, END = "<!-- coverage:start -->", "<!-- coverage:end -->"


def coverage_table() -> str:
    """Markdown: per checklist section, items per kind and how many have a check."""
    checks = registry()
    sections: dict[str, Counter] = {}
    for item in CATALOG:
        counter = sections.setdefault(item.section_title, Counter())
        counter[item.kind] += 1
        counter["total"] += 1
        counter["checked"] += item.check in checks
    lines = [
        "| section | items | " + " | ".join(KINDS) + " | with a check |",
        "|---|---:|" + "---:|" * len(KINDS) + "---:|",
    ]
    for title, counter in sections.items():
        kinds = " | ".join(str(counter[kind] or "") for kind in KINDS)
        lines.append(f"| {title} | {counter['total']} | {kinds} | {counter['checked']} |")
    total = sum(item.check in checks for item in CATALOG)
    kinds_total = " | ".join(str(sum(i.kind == kind for i in CATALOG)) for kind in KINDS)
    lines.append(f"| **all** | **{len(CATALOG)}** | {kinds_total} | **{total}** |")
    ids = ", ".join(item.id for item in CATALOG if item.check in checks)
    lines.append("")
    lines.append(f"Items with a check today ({total} of {len(CATALOG)}): {ids}.")
    return "\n".join(lines)


def configuration_markdown() -> str:
    """docs/configuration.md: every inventory data key hardening reads."""
    lines = [
        "# Configuration: inventory data keys",
        "",
        "Generated from `hardening.settings` by `python3 -m hardening.docs`; do not edit.",
        "",
        "Set keys per host, per group (`group_data/<group>.py`) or in the inventory tuples.",
        "",
        "| key | default | meaning |",
        "|---|---|---|",
    ]
    for setting in SETTINGS:
        lines.append(f"| `{setting.key}` | `{setting.default!r}` | {setting.help} |")
    lines += ["", "## Ports opened per inventory group", "", "| group | ports |", "|---|---|"]
    for group, ports in GROUP_PORTS.items():
        lines.append(f"| `{group}` | {', '.join(ports)} |")
    lines.append("")
    return "\n".join(lines)


def update_readme(text: str) -> str:
    """Replace the coverage block between the markers in README text."""
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    return pattern.sub(f"{START}\n{coverage_table()}\n{END}", text)


def main(root: Path | None = None) -> int:
    root = root or Path.cwd()
    readme = root / "README.md"
    readme.write_text(update_readme(readme.read_text("utf-8")), "utf-8")
    (root / "docs" / "configuration.md").write_text(configuration_markdown(), "utf-8")
    print("updated README.md coverage table and docs/configuration.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
