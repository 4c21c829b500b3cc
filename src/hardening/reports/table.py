"""Terminal report with rich: one table per host, grouped by section, then summaries.

Unchecked items are collapsed into one row per section by default so that the
rows that matter (failures, pending work) stay visible; ``verbose=True`` lists
every item. All report text goes through ``rich.text.Text``, so evidence such
as ``[red]`` is printed literally, never interpreted as markup.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from rich.console import Console, RenderableType
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from hardening.reports._common import (
    HostGroup,
    SectionGroup,
    counts_line,
    group_by_host,
    is_blocking,
    percent,
)
from hardening.reports.model import Report
from hardening.results import Status

#: Rich style of each status.
STATUS_STYLES: dict[Status, str] = {
    Status.PASS: "bold green",
    Status.FAIL: "bold red",
    Status.NOT_APPLICABLE: "dim",
    Status.ATTESTED: "cyan",
    Status.PENDING: "yellow",
    Status.UNCHECKED: "dim magenta",
}

SEVERITY_STYLES = {"critical": "bold", "high": "", "medium": "dim", "low": "dim"}

#: Width used when rendering to text without a terminal to measure.
DEFAULT_WIDTH = 140

ITEM_TEXT_WIDTH = 48


def status_text(status: Status) -> Text:
    """The status label in its color."""
    return Text(status.label, style=STATUS_STYLES[status])


def _section_rows(table: Table, section: SectionGroup, shown: set[Status], verbose: bool) -> None:
    """Add a section's title row and its result rows (unchecked collapsed unless verbose)."""
    collapsed = [
        item.id
        for item, result in section.rows
        if result.status is Status.UNCHECKED and not verbose and Status.UNCHECKED in shown
    ]
    rows = [
        (item, result)
        for item, result in section.rows
        if result.status in shown and not (collapsed and result.status is Status.UNCHECKED)
    ]
    if not rows and not collapsed:
        return
    if table.row_count:
        table.add_section()
    table.add_row("", "", "", Text(section.title, style="bold underline"), "")
    for item, result in rows:
        evidence = Text(result.evidence, overflow="fold")
        if result.fix and result.status is not Status.PASS:
            evidence.append("\nfix: ", style="bold")
            evidence.append(result.fix)
        table.add_row(
            Text(item.id, style="bold red" if is_blocking(result) else ""),
            Text(item.severity, style=SEVERITY_STYLES.get(item.severity, "")),
            status_text(result.status),
            Text(item.text, no_wrap=True, overflow="ellipsis"),
            evidence,
        )
    if collapsed:
        noun = "item" if len(collapsed) == 1 else "items"
        table.add_row(
            "",
            "",
            status_text(Status.UNCHECKED),
            Text(f"{len(collapsed)} {noun} unchecked: {', '.join(collapsed)}", style="dim"),
            "",
        )


def host_table(group: HostGroup, shown: set[Status], verbose: bool = False) -> Table:
    """The results of one host, one section after the other."""
    table = Table(header_style="bold")
    table.add_column("ID", no_wrap=True)
    table.add_column("Severity", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Item", max_width=ITEM_TEXT_WIDTH)
    table.add_column("Evidence", ratio=1, min_width=20)
    for section in group.sections:
        _section_rows(table, section, shown, verbose)
    return table


def summary_table(report: Report, hosts: list[HostGroup]) -> Table:
    """Counts per status, coverage and blocking failures for each host and overall."""
    table = Table(title="Summary", title_style="bold", header_style="bold")
    table.add_column("Host")
    for status in Status:
        table.add_column(Text(status.label, style=STATUS_STYLES[status]), justify="right")
    table.add_column("Coverage", justify="right")
    table.add_column("Blocking", justify="right")

    def row(label: Text, host: str | None) -> list[RenderableType]:
        counts = report.counts(host)
        failures = len(report.blocking_failures(host))
        return [
            label,
            *(str(counts[status.value]) for status in Status),
            percent(report.coverage(host)),
            Text(str(failures), style="bold red" if failures else "green"),
        ]

    for group in hosts:
        name = group.host.name
        label = Text(name) if group.host.reachable else Text(f"{name} (unreachable)", "red")
        table.add_row(*row(label, name))
    table.add_section()
    table.add_row(*row(Text("all hosts", style="bold"), None))
    return table


def renderables(
    report: Report, *, verbose: bool = False, show: Iterable[Status | str] | None = None
) -> list[RenderableType]:
    """Everything the terminal report prints, in order.

    + verbose: list unchecked items one per row instead of one row per section
    + show: statuses whose results are listed (default: all); summaries always count all
    """
    shown = set(Status) if show is None else {Status(value) for value in show}
    hosts = group_by_host(report)
    parts: list[RenderableType] = []
    for group in hosts:
        host = group.host
        title = Text(host.name, style="bold")
        if host.groups:
            title.append(f"  ({', '.join(host.groups)})", style="dim")
        parts.append(Rule(title, align="left"))
        if not host.reachable:
            parts.append(Text(f"unreachable: {host.error or 'no error given'}", style="bold red"))
        if group.results:
            parts.append(host_table(group, shown, verbose))
            parts.append(Text(f"{host.name}: {counts_line(report, host.name)}", style="bold"))
        elif host.reachable:
            parts.append(Text("no results", style="dim"))
        parts.append(Text(""))
    parts.append(summary_table(report, hosts))
    parts.append(Text(report.summary_line(), style="bold"))
    failures = len(report.blocking_failures())
    if failures:
        noun = "failure" if failures == 1 else "failures"
        parts.append(Text(f"{failures} blocking {noun} (critical/high items)", style="bold red"))
    else:
        parts.append(Text("no blocking failures (critical/high items)", style="green"))
    return parts


def print_report(
    report: Report,
    console: Console | None = None,
    verbose: bool = False,
    show: Iterable[Status | str] | None = None,
) -> None:
    """Print the report to a console (stdout by default), with colors when it supports them."""
    console = console or Console()
    for part in renderables(report, verbose=verbose, show=show):
        # soft_wrap: long summary lines stay one line (tables wrap their own cells)
        console.print(part, soft_wrap=isinstance(part, Text))


def render(
    report: Report,
    *,
    console_width: int | None = None,
    show: Iterable[Status | str] | None = None,
    verbose: bool = False,
) -> str:
    """The terminal report as plain text (no color codes), ``console_width`` columns wide."""
    console = Console(
        file=io.StringIO(),
        record=True,
        width=console_width or DEFAULT_WIDTH,
        color_system=None,
        force_terminal=False,
        legacy_windows=False,
    )
    print_report(report, console, verbose=verbose, show=show)
    return console.export_text(styles=False)
