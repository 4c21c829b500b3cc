"""JUnit XML report, for CI systems that display test results.

Mapping (see ``docs/report-format.md``):

+ one ``<testsuite name=HOST>`` per host, one ``<testcase>`` per item with
  ``classname="hardening.<section>.<subsection>"`` and ``name="<ID> <text>"``
+ fail → ``<failure message=evidence type=severity>``, the fix as its body
+ not_applicable → ``<skipped message=reason>``
+ pending → ``<skipped message="pending: evidence">``, the fix as its body
+ unchecked → ``<skipped message="unchecked: no check yet">``, the evidence as its body
+ pass / attested → a passing testcase, ``<system-out>status: evidence</system-out>``
+ unreachable host → a testsuite with a single ``<error>`` testcase
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from hardening.catalog import Item
from hardening.reports._common import HostGroup, group_by_host
from hardening.reports.model import Report
from hardening.results import Result, Status

# Characters XML 1.0 cannot carry at all (control characters other than tab, LF, CR).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(text: str) -> str:
    """Text safe for XML 1.0: forbidden control characters become ``\\xNN`` escapes."""
    return _INVALID_XML.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def _seconds(milliseconds: float) -> str:
    return f"{milliseconds / 1000:.3f}"


def _sub(parent: ET.Element, tag: str, body: str = "", **attributes: str) -> ET.Element:
    """Append a child element; attribute values and body are made XML-safe."""
    element = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attributes.items()})
    if body:
        element.text = xml_text(body)
    return element


def testcase(parent: ET.Element, item: Item, result: Result) -> None:
    """One item on one host as a ``<testcase>`` (with its failure/skipped child)."""
    case = _sub(
        parent,
        "testcase",
        classname=".".join(("hardening", *item.section)),
        name=f"{item.id} {item.text}",
        time=_seconds(result.duration_ms),
    )
    status = result.status
    if status is Status.FAIL:
        _sub(case, "failure", result.fix, message=result.evidence, type=item.severity)
    elif status is Status.NOT_APPLICABLE:
        _sub(case, "skipped", message=result.evidence)
    elif status is Status.PENDING:
        _sub(case, "skipped", result.fix, message=f"pending: {result.evidence}")
    elif status is Status.UNCHECKED:
        _sub(case, "skipped", result.evidence, message="unchecked: no check yet")
    else:  # pass, attested
        _sub(case, "system-out", f"{status.label}: {result.evidence}")


def testsuite(parent: ET.Element, group: HostGroup, timestamp: str) -> tuple[dict[str, int], float]:
    """One host as a ``<testsuite>``; returns its counts and duration (ms) for the totals."""
    host = group.host
    suite = _sub(parent, "testsuite", name=host.name, timestamp=timestamp, hostname=host.name)
    if not host.reachable:
        case = _sub(
            suite, "testcase", classname="hardening.connection", name=f"connect {host.name}"
        )
        _sub(case, "error", host.error, message=host.error or "unreachable", type="unreachable")
        counts = {"tests": 1, "failures": 0, "errors": 1, "skipped": 0}
        duration = 0.0
    else:
        for section in group.sections:
            for item, result in section.rows:
                testcase(suite, item, result)
        statuses = [result.status for result in group.results]
        counts = {
            "tests": len(statuses),
            "failures": statuses.count(Status.FAIL),
            "errors": 0,
            "skipped": sum(
                statuses.count(s) for s in (Status.NOT_APPLICABLE, Status.PENDING, Status.UNCHECKED)
            ),
        }
        duration = sum(result.duration_ms for result in group.results)
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", _seconds(duration))
    return counts, duration


def to_element(report: Report) -> ET.Element:
    """The report as a ``<testsuites>`` element tree."""
    root = ET.Element("testsuites", {"name": "hardening"})
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    total_ms = 0.0
    for group in group_by_host(report):
        counts, duration = testsuite(root, group, report.generated_at)
        totals = {key: totals[key] + counts[key] for key in totals}
        total_ms += duration
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", _seconds(total_ms))
    return root


def render(report: Report) -> str:
    """The report as a JUnit XML document (UTF-8 declaration, indented)."""
    root = to_element(report)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
