"""JSON report: a stable, versioned document (see ``report.schema.json``).

Shape (``docs/report-format.md`` has the details)::

    {
      "schema_version": "1.0",
      "tool": {"name": "hardening", "version": "0.1.0"},
      "generated_at": "2025-01-01T00:00:00+00:00",
      "inventory": "inventories/prod.py",
      "summary": {"hosts", "unreachable_hosts", "items", "total", "counts",
                  "coverage", "blocking_failures"},
      "hosts": [{"name", "groups", "reachable", "error", "summary": {...}}],
      "items": [{"id", "section", "text", "kind", "severity", "check", "operation"}],
      "results": [{"item_id", "host", "status", "evidence", "fix", "check", "duration_ms"}]
    }

Hosts keep inventory order, items and results follow the checklist order (results
grouped by host) and keys are sorted, so two runs over the same state diff cleanly.
``from_dict`` reads such a document back and ``merge`` combines several.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from hardening.catalog import get_item
from hardening.reports._common import all_hosts, item_sort_key, iter_rows, summarize
from hardening.reports.model import SCHEMA_VERSION, HostInfo, Report
from hardening.results import Result, Status

TOOL_NAME = "hardening"
SCHEMA_RESOURCE = "report.schema.json"


class ReportFormatError(ValueError):
    """A JSON report that cannot be read: wrong schema version or malformed content."""


def to_dict(report: Report) -> dict[str, Any]:
    """The report as a JSON-ready dict following ``report.schema.json``."""
    hosts = all_hosts(report)
    rows = list(iter_rows(report))
    items = {item.id: item for _, item, _ in rows}  # each referenced item once
    summary = {
        **summarize(report),
        "hosts": len(hosts),
        "unreachable_hosts": sum(1 for host in hosts if not host.reachable),
        "items": len(items),
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": report.tool_version},
        "generated_at": report.generated_at,
        "inventory": report.inventory,
        "summary": summary,
        "hosts": [
            {
                "name": host.name,
                "groups": list(host.groups),
                "reachable": host.reachable,
                "error": host.error,
                "summary": summarize(report, host.name),
            }
            for host in hosts
        ],
        "items": [
            {
                "id": item.id,
                "section": list(item.section),
                "text": item.text,
                "kind": item.kind,
                "severity": item.severity,
                "check": item.check,
                "operation": item.operation,
            }
            for item in sorted(items.values(), key=lambda item: item_sort_key(item.id))
        ],
        "results": [
            {
                "item_id": result.item_id,
                "host": result.host,
                "status": result.status.value,
                "evidence": result.evidence,
                "fix": result.fix,
                "check": result.check,
                "duration_ms": result.duration_ms,
            }
            for _, _, result in rows
        ],
    }


def render(report: Report) -> str:
    """The report as JSON text: indent 2, sorted keys, UTF-8 kept as is, final newline."""
    return json.dumps(to_dict(report), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _check_version(version: object) -> None:
    """Accept any minor version of our major version (minor = additive fields only)."""
    if not isinstance(version, str) or version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise ReportFormatError(
            f"unsupported report schema version {version!r} (this tool reads "
            f"{SCHEMA_VERSION.split('.')[0]}.x, writes {SCHEMA_VERSION})"
        )


def from_dict(data: Mapping[str, Any]) -> Report:
    """Read a document produced by ``to_dict`` back into a ``Report``.

    Derived parts (``summary``, ``items``) are ignored: they are recomputed from
    the results. Unknown fields are ignored (a newer minor version may add some).
    Raises ``ReportFormatError`` on another major schema version, a missing field,
    an unknown status or an item id the catalog does not know.
    """
    if not isinstance(data, Mapping):
        raise ReportFormatError("a report must be a JSON object")
    _check_version(data.get("schema_version"))
    try:
        hosts = [
            HostInfo(
                name=str(host["name"]),
                groups=tuple(host.get("groups", ())),
                reachable=bool(host.get("reachable", True)),
                error=str(host.get("error", "")),
            )
            for host in data["hosts"]
        ]
        results = []
        for entry in data["results"]:
            get_item(entry["item_id"])
            results.append(
                Result(
                    item_id=entry["item_id"],
                    host=str(entry["host"]),
                    status=Status(entry["status"]),
                    evidence=str(entry.get("evidence", "")),
                    fix=str(entry.get("fix", "")),
                    check=str(entry.get("check", "")),
                    duration_ms=float(entry.get("duration_ms", 0.0)),
                )
            )
        tool = data.get("tool") or {}
        return Report(
            hosts=hosts,
            results=results,
            inventory=str(data.get("inventory", "")),
            generated_at=str(data["generated_at"]),
            tool_version=str(tool.get("version", "")),
        )
    except (KeyError, TypeError, ValueError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        raise ReportFormatError(f"malformed report: {message}") from error


def loads(text: str) -> Report:
    """Parse JSON text produced by ``render``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReportFormatError(f"not JSON: {error}") from error
    return from_dict(data)


def merge(reports: Sequence[Report | Mapping[str, Any]]) -> Report:
    """Union of the hosts of several reports; a host found in several: the later wins.

    A later report replaces a host entirely (its ``HostInfo`` and all its results);
    hosts keep the position of their first appearance. Documents (dicts) are read
    with ``from_dict``; they must all carry the same ``schema_version``, else
    ``ReportFormatError``. The merged report takes the newest ``generated_at``
    and the distinct inventories joined by ``", "``.
    """
    if not reports:
        raise ValueError("nothing to merge")
    versions = {doc.get("schema_version") for doc in reports if isinstance(doc, Mapping)}
    if len(versions) > 1:
        found = ", ".join(sorted(map(str, versions)))
        raise ReportFormatError(f"cannot merge reports of different schema versions: {found}")
    loaded = [doc if isinstance(doc, Report) else from_dict(doc) for doc in reports]

    hosts: dict[str, HostInfo] = {}
    results: dict[str, list[Result]] = {}
    for report in loaded:
        by_host: dict[str, list[Result]] = {host.name: [] for host in all_hosts(report)}
        for result in report.results:
            by_host[result.host].append(result)
        for host in all_hosts(report):
            hosts[host.name] = host
            results[host.name] = by_host[host.name]
    inventories = list(dict.fromkeys(r.inventory for r in loaded if r.inventory))
    return Report(
        hosts=list(hosts.values()),
        results=[result for host in hosts for result in results[host]],
        inventory=", ".join(inventories),
        generated_at=max((r.generated_at for r in loaded), key=_timestamp_key),
    )


def _timestamp_key(value: str) -> tuple[int, datetime | str]:
    """Order ISO 8601 timestamps by instant; unparsable ones sort first, as text."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return (0, value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (1, parsed)


@cache
def _schema_text() -> str:
    return resources.files("hardening.reports").joinpath(SCHEMA_RESOURCE).read_text("utf-8")


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the JSON report, shipped as package data."""
    return json.loads(_schema_text())


def validate(data: Mapping[str, Any]) -> None:
    """Validate a document against ``load_schema()``.

    Needs the optional ``jsonschema`` package; raises ``jsonschema.ValidationError``.
    """
    import jsonschema  # optional (test extra): imported only when validating

    jsonschema.Draft202012Validator(load_schema()).validate(data)
