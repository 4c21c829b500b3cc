"""The report: every catalog item on every audited host, plus a summary.

``Report`` is what renderers consume; it is built by the audit and by
``hardening report merge``. It holds results only, never facts or secrets.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hardening import __version__
from hardening.catalog import CATALOG, Item, get_item
from hardening.results import SATISFIED, Result, Status

#: Version of the JSON report schema (``report.schema.json``); bump on any change.
SCHEMA_VERSION = "1.0"


@dataclass(frozen=True)
class HostInfo:
    """An audited host: its inventory name, groups and whether it could be reached."""

    name: str
    groups: tuple[str, ...] = ()
    reachable: bool = True
    error: str = ""


@dataclass
class Report:
    """All results of one audit run.

    + hosts: the audited hosts, in inventory order
    + results: one ``Result`` per catalog item and host
    + inventory: the inventory the audit ran against (path or name)
    """

    hosts: list[HostInfo]
    results: list[Result]
    inventory: str = ""
    generated_at: str = field(
        default_factory=lambda: datetime.now(UTC).replace(microsecond=0).isoformat()
    )
    tool_version: str = __version__
    #: per host: facts gathered and SSH round trips the audit needed (not rendered)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    #: results per host, rebuilt when results were added (renderers ask per host: a scan
    #: of every result per host would grow with hosts squared)
    _by_host: tuple[int, dict[str, list[Result]]] = field(
        default=(-1, {}), init=False, repr=False, compare=False
    )

    def _select(self, host: str | None) -> list[Result]:
        if host is None:
            return self.results
        if self._by_host[0] != len(self.results):
            index: dict[str, list[Result]] = {}
            for result in self.results:
                index.setdefault(result.host, []).append(result)
            self._by_host = (len(self.results), index)
        return self._by_host[1].get(host, [])

    def item(self, item_id: str) -> Item:
        return get_item(item_id)

    def results_for(self, host: str) -> list[Result]:
        """Results of one host, in the order added (the audit adds them in catalog order)."""
        return list(self._select(host))

    def counts(self, host: str | None = None) -> dict[str, int]:
        """Number of results per status (all statuses present, zero when none)."""
        counter = Counter(result.status for result in self._select(host))
        return {status.value: counter.get(status, 0) for status in Status}

    def coverage(self, host: str | None = None) -> float:
        """Share of results that are not ``unchecked``: 1.0 means every item has a check."""
        selected = self._select(host)
        if not selected:
            return 0.0
        covered = sum(1 for r in selected if r.status is not Status.UNCHECKED)
        return covered / len(selected)

    def blocking_failures(self, host: str | None = None) -> list[Result]:
        """Failed results of critical or high items (of ``host``, or of every host): these
        make the audit exit 1."""
        return [
            result
            for result in self._select(host)
            if result.status is Status.FAIL
            and get_item(result.item_id).severity in ("critical", "high")
        ]

    def unsatisfied(self) -> list[Result]:
        """Results that are neither pass, attested nor not applicable."""
        return [result for result in self.results if result.status not in SATISFIED]

    @property
    def unreachable_hosts(self) -> list[HostInfo]:
        return [host for host in self.hosts if not host.reachable]

    def summary_line(self) -> str:
        """``2 hosts · 300 results · pass 10 · fail 5 · … · coverage 3.3 %``."""
        counts = self.counts()
        parts = [f"{len(self.hosts)} host{'s' if len(self.hosts) != 1 else ''}"]
        parts.append(f"{len(self.results)} results")
        parts += [f"{Status(key).label} {value}" for key, value in counts.items()]
        parts.append(f"coverage {self.coverage() * 100:.1f} %")
        return " · ".join(parts)


def catalog_order() -> dict[str, int]:
    """Map item id to its position in the checklist (for stable sorting)."""
    return {item.id: index for index, item in enumerate(CATALOG)}
