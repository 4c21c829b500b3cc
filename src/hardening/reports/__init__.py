"""Report renderers: the same ``Report`` as a terminal table, JSON, JUnit XML or HTML.

    from hardening.reports import RENDERERS, write_report
    text = RENDERERS["json"](report)
    write_report(report, "html", "reports-out/audit.html")

Every renderer is a function ``(Report) -> str`` and presents exactly what the
report holds (see ``docs/report-format.md``). jinja2 is only imported when an
HTML report is rendered.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from hardening.reports import html, json_report, junit, table
from hardening.reports.model import Report

Renderer = Callable[[Report], str]

#: Format name → render function.
RENDERERS: dict[str, Renderer] = {
    "table": table.render,
    "json": json_report.render,
    "junit": junit.render,
    "html": html.render,
}

FORMATS: tuple[str, ...] = tuple(RENDERERS)

#: Usual file extension of each format.
EXTENSIONS = {"table": ".txt", "json": ".json", "junit": ".xml", "html": ".html"}


def render(report: Report, fmt: str) -> str:
    """Render ``report`` in format ``fmt`` (one of ``FORMATS``)."""
    try:
        renderer = RENDERERS[fmt]
    except KeyError:
        raise ValueError(
            f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}"
        ) from None
    return renderer(report)


def write_report(report: Report, fmt: str, path: str | Path) -> Path | None:
    """Render ``report`` as ``fmt`` and write it (UTF-8) to ``path``; ``"-"`` is stdout.

    Missing parent directories are created. Returns the path written, ``None`` for stdout.
    """
    text = render(report, fmt)
    if str(path) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return None
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "RENDERERS",
    "Renderer",
    "render",
    "write_report",
]
