"""Self-contained HTML report: one file, inline CSS and vanilla JS, no external assets.

The page has a header with the overall summary, one card per host (counts,
coverage, connection error), filter controls (status checkboxes, section and
host selects, text search) and a table of every result. The template is
``templates/report.html.j2``, rendered by jinja2 with autoescaping on, so every
report string (host names, evidence, fixes) is HTML-escaped. A
Content-Security-Policy meta tag forbids the page from loading anything.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from hardening.reports._common import (
    all_hosts,
    counts_line,
    is_blocking,
    iter_rows,
    percent,
    summarize,
)
from hardening.reports.model import SCHEMA_VERSION, Report
from hardening.results import Status

if TYPE_CHECKING:
    import jinja2

TEMPLATE = "report.html.j2"


@cache
def _environment() -> jinja2.Environment:
    import jinja2  # imported on first use: keeps ``hardening.reports`` light

    return jinja2.Environment(
        loader=jinja2.PackageLoader("hardening.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def context(report: Report) -> dict[str, Any]:
    """The template's variables: report metadata, host cards, filter options, rows."""
    rows = [
        {
            "host": host.name,
            "id": item.id,
            "section": item.section_title,
            "text": item.text,
            "severity": item.severity,
            "kind": item.kind,
            "check": result.check,
            "status": result.status,
            "evidence": result.evidence,
            "fix": result.fix,
            "blocking": is_blocking(result),
        }
        for host, item, result in iter_rows(report)
    ]
    hosts = []
    for host in all_hosts(report):
        summary = summarize(report, host.name)
        hosts.append(
            {
                "name": host.name,
                "groups": host.groups,
                "reachable": host.reachable,
                "error": host.error,
                "counts": summary["counts"],
                "total": summary["total"],
                "coverage": percent(report.coverage(host.name)),
                "blocking": summary["blocking_failures"],
                "line": counts_line(report, host.name),
            }
        )
    return {
        "inventory": report.inventory,
        "generated_at": report.generated_at,
        "tool_version": report.tool_version,
        "schema_version": SCHEMA_VERSION,
        "summary_line": report.summary_line(),
        "blocking": len(report.blocking_failures()),
        "statuses": list(Status),
        "totals": report.counts(),
        "hosts": hosts,
        "sections": list(dict.fromkeys(row["section"] for row in rows)),
        "rows": rows,
    }


def render(report: Report) -> str:
    """The report as one self-contained HTML page."""
    return _environment().get_template(TEMPLATE).render(context(report))
