"""Helpers shared by the renderers: ordering, grouping and summaries.

Renderers only present what the ``Report`` holds; everything they need beyond
the raw results (catalog order, per-host and per-section grouping, counts) is
computed here once, so the table, JSON, JUnit and HTML outputs always agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import TypedDict

from hardening.catalog import Item, get_item
from hardening.reports.model import HostInfo, Report, catalog_order
from hardening.results import Result, Status

#: Severities whose failures are blocking (make the audit exit 1).
BLOCKING_SEVERITIES = ("critical", "high")

_ORDER = catalog_order()


def item_sort_key(item_id: str) -> tuple[int, str]:
    """Sort key putting item ids in checklist order (unknown ids last, by id)."""
    return (_ORDER.get(item_id, len(_ORDER)), item_id)


def result_sort_key(result: Result) -> tuple[int, str]:
    """Sort key putting results in checklist order."""
    return item_sort_key(result.item_id)


def is_blocking(result: Result) -> bool:
    """A failed result of a critical or high item."""
    return result.status is Status.FAIL and get_item(result.item_id).severity in BLOCKING_SEVERITIES


def all_hosts(report: Report) -> list[HostInfo]:
    """The report's hosts in inventory order, plus hosts only named by results.

    A result whose host is missing from ``report.hosts`` is never dropped: its
    host is appended as a plain reachable ``HostInfo``.
    """
    hosts = list(report.hosts)
    known = {host.name for host in hosts}
    for result in report.results:
        if result.host not in known:
            known.add(result.host)
            hosts.append(HostInfo(name=result.host))
    return hosts


@dataclass(frozen=True)
class SectionGroup:
    """Consecutive results of one host that belong to the same checklist section."""

    section: tuple[str, ...]
    rows: list[tuple[Item, Result]]

    @property
    def title(self) -> str:
        return " / ".join(self.section)


@dataclass(frozen=True)
class HostGroup:
    """One host with its results in checklist order, grouped by section."""

    host: HostInfo
    results: list[Result]
    sections: list[SectionGroup] = field(default_factory=list)


def group_by_section(results: Iterable[Result]) -> list[SectionGroup]:
    """Group results (sorted into checklist order) by their item's section path."""
    rows = [(get_item(r.item_id), r) for r in sorted(results, key=result_sort_key)]
    return [
        SectionGroup(section, list(group))
        for section, group in groupby(rows, key=lambda row: row[0].section)
    ]


def group_by_host(report: Report) -> list[HostGroup]:
    """Every host (see ``all_hosts``) with its results grouped by section."""
    by_host: dict[str, list[Result]] = {}
    for result in report.results:
        by_host.setdefault(result.host, []).append(result)
    groups = []
    for host in all_hosts(report):
        results = sorted(by_host.get(host.name, []), key=result_sort_key)
        groups.append(HostGroup(host, results, group_by_section(results)))
    return groups


def iter_rows(report: Report) -> Iterator[tuple[HostInfo, Item, Result]]:
    """Every result with its host and item: hosts in order, items in checklist order."""
    for group in group_by_host(report):
        for section in group.sections:
            for item, result in section.rows:
                yield group.host, item, result


class Summary(TypedDict):
    """Result summary of a host or of the whole report (JSON ``summary`` objects)."""

    total: int
    counts: dict[str, int]
    coverage: float
    blocking_failures: int


def summarize(report: Report, host: str | None = None) -> Summary:
    """Counts per status, total, coverage (0..1, 4 decimals) and blocking failures.

    ``host=None`` summarizes the whole report.
    """
    blocking = report.blocking_failures(host)
    counts = report.counts(host)
    return Summary(
        total=sum(counts.values()),
        counts=counts,
        coverage=round(report.coverage(host), 4),
        blocking_failures=len(blocking),
    )


def percent(ratio: float) -> str:
    """``0.3333`` → ``33.3 %`` (same format as ``Report.summary_line``)."""
    return f"{ratio * 100:.1f} %"


def counts_line(report: Report, host: str) -> str:
    """One host's summary: ``150 results · pass 10 · … · coverage 6.7 %``."""
    counts = report.counts(host)
    parts = [f"{sum(counts.values())} results"]
    parts += [f"{Status(key).label} {value}" for key, value in counts.items()]
    parts.append(f"coverage {percent(report.coverage(host))}")
    return " · ".join(parts)
