"""Report renderers: JSON (schema, round trip, merge), JUnit, HTML and the terminal table."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from hardening.catalog import CATALOG, KINDS, SEVERITIES
from hardening.reports import (
    EXTENSIONS,
    FORMATS,
    RENDERERS,
    html,
    json_report,
    junit,
    table,
    write_report,
)
from hardening.reports.json_report import ReportFormatError
from hardening.reports.model import SCHEMA_VERSION, HostInfo, Report
from hardening.results import Result, Status

HOSTILE = "<script>alert(1)</script>"
SECRET = "token=ghp_R4nd0mS3cr3tV4lu3"
UNICODE = "naïve ✓ — ok"
STATUSES = list(Status)


def make_results(host: str, shift: int = 0, evidence: str = "observed") -> list[Result]:
    """One result per catalog item, statuses cycling through all six."""
    results = []
    for index, item in enumerate(CATALOG):
        status = STATUSES[(index + shift) % len(STATUSES)]
        needs_fix = status in (Status.FAIL, Status.PENDING)
        fix = f"apply {item.operation or 'by hand'}" if needs_fix else ""
        results.append(
            Result(
                item_id=item.id,
                host=host,
                status=status,
                evidence=f"{item.id} {evidence} {index}",
                fix=fix,
                check="" if status is Status.UNCHECKED else item.check,
                duration_ms=float(index % 7),
            )
        )
    return results


def with_evidence(results: list[Result], index: int, evidence: str, fix: str = "") -> None:
    """Replace the evidence (and fix) of ``results[index]`` in place."""
    old = results[index]
    results[index] = Result(
        old.item_id, old.host, old.status, evidence, fix or old.fix, old.check, old.duration_ms
    )


@pytest.fixture
def report() -> Report:
    web = make_results("web-1", 0)
    db = make_results("db-1", 3)
    assert web[1].status is Status.FAIL and web[0].status is Status.PASS
    with_evidence(web, 1, f"CORS allows {HOSTILE} & more", fix=f"remove {HOSTILE}")
    with_evidence(web, 0, SECRET)
    with_evidence(db, 2, UNICODE)
    return Report(
        hosts=[
            HostInfo("web-1", ("web",)),
            HostInfo("db-1", ("db_primary", "postgres")),
            HostInfo("db-2", ("db_replica",), reachable=False, error="cannot connect: timed out"),
        ],
        results=web + db,
        inventory="inventories/testbed.py",
        generated_at="2025-01-02T03:04:05+00:00",
    )


# --- JSON ---------------------------------------------------------------------------------


def test_schema_is_valid_and_versioned() -> None:
    schema = json_report.load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert SCHEMA_VERSION in schema["title"] and SCHEMA_VERSION in schema["$id"]
    defs = schema["$defs"]
    assert defs["status"]["enum"] == [status.value for status in Status]
    assert defs["item"]["properties"]["kind"]["enum"] == list(KINDS)
    assert defs["item"]["properties"]["severity"]["enum"] == list(SEVERITIES)
    assert all(re.match(defs["item_id"]["pattern"], item.id) for item in CATALOG)


def test_json_validates_against_schema(report: Report) -> None:
    data = json.loads(json_report.render(report))
    json_report.validate(data)
    jsonschema.validate(data, json_report.load_schema())


def test_schema_rejects_unknown_fields_and_statuses(report: Report) -> None:
    data = json_report.to_dict(report)
    extra = copy.deepcopy(data)
    extra["results"][0]["password"] = "x"
    bad_status = copy.deepcopy(data)
    bad_status["results"][0]["status"] = "ok"
    for document in (extra, bad_status):
        with pytest.raises(jsonschema.ValidationError):
            json_report.validate(document)


def test_json_shape_and_summary(report: Report) -> None:
    data = json_report.to_dict(report)
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["tool"] == {"name": "hardening", "version": report.tool_version}
    assert data["generated_at"] == "2025-01-02T03:04:05+00:00"
    assert data["inventory"] == "inventories/testbed.py"
    summary = data["summary"]
    assert summary["counts"] == report.counts()
    assert summary["total"] == len(report.results) == 300
    assert summary["items"] == len(data["items"]) == len(CATALOG)
    assert summary["hosts"] == 3 and summary["unreachable_hosts"] == 1
    assert summary["blocking_failures"] == len(report.blocking_failures()) > 0
    assert summary["coverage"] == round(report.coverage(), 4)
    assert [item["id"] for item in data["items"]] == [item.id for item in CATALOG]
    hosts = {host["name"]: host for host in data["hosts"]}
    assert list(hosts) == ["web-1", "db-1", "db-2"]
    assert hosts["db-1"]["groups"] == ["db_primary", "postgres"]
    assert hosts["db-1"]["summary"]["counts"] == report.counts("db-1")
    assert hosts["db-2"] == {
        "name": "db-2",
        "groups": ["db_replica"],
        "reachable": False,
        "error": "cannot connect: timed out",
        "summary": {
            "total": 0,
            "counts": dict.fromkeys((s.value for s in Status), 0),
            "coverage": 0.0,
            "blocking_failures": 0,
        },
    }
    first = data["results"][0]
    assert first == {
        "item_id": "SEC-01",
        "host": "web-1",
        "status": "pass",
        "evidence": SECRET,
        "fix": "",
        "check": CATALOG[0].check,
        "duration_ms": 0.0,
    }


def test_json_text_is_stable_sorted_and_unicode(report: Report) -> None:
    text = json_report.render(report)
    assert text == json_report.render(report)
    assert text.endswith("}\n") and '\n  "generated_at"' in text
    assert UNICODE in text  # ensure_ascii=False
    assert list(json.loads(text)) == sorted(json.loads(text))


def test_json_round_trip(report: Report) -> None:
    data = json_report.to_dict(report)
    again = json_report.from_dict(data)
    assert again.hosts == report.hosts
    assert again.results == report.results
    assert (again.inventory, again.generated_at, again.tool_version) == (
        report.inventory,
        report.generated_at,
        report.tool_version,
    )
    assert json_report.to_dict(again) == data
    assert json_report.render(json_report.loads(json_report.render(report))) == (
        json_report.render(report)
    )


def test_from_dict_accepts_newer_minor_and_ignores_unknown_fields(report: Report) -> None:
    data = json_report.to_dict(report)
    data["schema_version"] = "1.7"
    data["future"] = {"anything": True}
    data["results"][0]["future"] = 1
    assert json_report.from_dict(data).results == report.results


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema_version="2.0"), "schema version"),
        (lambda d: d.pop("schema_version"), "schema version"),
        (lambda d: d.pop("results"), "results"),
        (lambda d: d["results"][0].update(status="ok"), "ok"),
        (lambda d: d["results"][0].update(item_id="NOPE-01"), "NOPE-01"),
    ],
)
def test_from_dict_rejects_bad_documents(report: Report, change, message: str) -> None:
    data = json_report.to_dict(report)
    change(data)
    with pytest.raises(ReportFormatError, match=message):
        json_report.from_dict(data)


def test_loads_rejects_non_json() -> None:
    with pytest.raises(ReportFormatError, match="not JSON"):
        json_report.loads("<html>")


def test_merge_later_host_wins(report: Report) -> None:
    later = Report(
        hosts=[HostInfo("db-1", ("db_primary",)), HostInfo("cache-1", ("redis",))],
        results=make_results("db-1", 1, "rerun") + make_results("cache-1", 2),
        inventory="inventories/cache.py",
        generated_at="2025-02-01T00:00:00+00:00",
    )
    merged = json_report.merge([report, later])
    assert [host.name for host in merged.hosts] == ["web-1", "db-1", "db-2", "cache-1"]
    assert merged.hosts[1] == HostInfo("db-1", ("db_primary",))
    assert merged.results_for("db-1") == later.results_for("db-1")
    assert merged.results_for("web-1") == report.results_for("web-1")
    assert len(merged.results) == 3 * len(CATALOG)
    assert merged.generated_at == "2025-02-01T00:00:00+00:00"
    assert merged.inventory == "inventories/testbed.py, inventories/cache.py"
    json_report.validate(json_report.to_dict(merged))
    # documents are accepted too, and the result does not depend on the input kind
    documents = [json_report.to_dict(report), json_report.to_dict(later)]
    assert json_report.to_dict(json_report.merge(documents)) == json_report.to_dict(merged)


def test_merge_rejects_mismatched_schema_versions(report: Report) -> None:
    older, newer = json_report.to_dict(report), json_report.to_dict(report)
    newer["schema_version"] = "1.1"
    with pytest.raises(ReportFormatError, match="different schema versions"):
        json_report.merge([older, newer])
    foreign = json_report.to_dict(report) | {"schema_version": "2.0"}
    with pytest.raises(ReportFormatError, match="unsupported report schema version"):
        json_report.merge([foreign])
    with pytest.raises(ValueError, match="nothing to merge"):
        json_report.merge([])


# --- JUnit --------------------------------------------------------------------------------


def test_junit_counts_and_mapping(report: Report) -> None:
    root = ET.fromstring(junit.render(report).encode("utf-8"))
    assert root.tag == "testsuites"
    suites = {suite.get("name"): suite for suite in root.findall("testsuite")}
    assert list(suites) == ["web-1", "db-1", "db-2"]
    for name in ("web-1", "db-1"):
        suite, counts = suites[name], report.counts(name)
        cases = suite.findall("testcase")
        assert len(cases) == int(suite.get("tests")) == len(CATALOG)
        assert int(suite.get("failures")) == counts["fail"] == len(suite.findall("*/failure"))
        skipped = counts["not_applicable"] + counts["pending"] + counts["unchecked"]
        assert int(suite.get("skipped")) == skipped == len(suite.findall("*/skipped"))
        assert suite.get("errors") == "0"
        first = cases[0]
        assert first.get("classname") == "hardening.Pre-Deployment.Security"
        assert first.get("name") == f"SEC-01 {CATALOG[0].text}"
    totals = {key: int(root.get(key)) for key in ("tests", "failures", "skipped", "errors")}
    assert totals == {
        "tests": 2 * len(CATALOG) + 1,
        "failures": report.counts()["fail"],
        "skipped": sum(report.counts()[s] for s in ("not_applicable", "pending", "unchecked")),
        "errors": 1,
    }

    web = {case.get("name").split()[0]: case for case in suites["web-1"].iter("testcase")}
    failure = web["SEC-02"].find("failure")
    assert failure.get("message") == f"CORS allows {HOSTILE} & more"
    assert failure.text == f"remove {HOSTILE}" and failure.get("type") == "critical"
    assert web["SEC-01"].find("system-out").text == f"pass: {SECRET}"
    assert list(web["SEC-01"]) == [web["SEC-01"].find("system-out")]
    by_status = {r.status: r for r in report.results_for("web-1")}
    skipped = {
        status: web[by_status[status].item_id].find("skipped").get("message")
        for status in (Status.NOT_APPLICABLE, Status.PENDING, Status.UNCHECKED)
    }
    assert skipped[Status.NOT_APPLICABLE] == by_status[Status.NOT_APPLICABLE].evidence
    assert skipped[Status.PENDING] == f"pending: {by_status[Status.PENDING].evidence}"
    assert skipped[Status.UNCHECKED] == "unchecked: no check yet"
    attested = web[by_status[Status.ATTESTED].item_id]
    assert attested.find("system-out").text.startswith("attested: ")

    unreachable = suites["db-2"]
    assert (unreachable.get("tests"), unreachable.get("errors")) == ("1", "1")
    error = unreachable.find("testcase/error")
    assert error.get("message") == "cannot connect: timed out"


def test_junit_survives_control_characters(report: Report) -> None:
    with_evidence(report.results, 0, "colored \x1b[31mred\x1b[0m\x00")
    root = ET.fromstring(junit.render(report))
    out = root.find("testsuite/testcase/system-out").text
    assert out == "pass: colored \\x1b[31mred\\x1b[0m\\x00"


# --- HTML ---------------------------------------------------------------------------------

EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//|@import|url\(""", re.I)


def test_html_is_self_contained(report: Report) -> None:
    page = html.render(report)
    assert page.startswith("<!DOCTYPE html>")
    assert not EXTERNAL.search(page)
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "<script src" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_html_has_hosts_summary_and_filters(report: Report) -> None:
    page = html.render(report)
    for host in report.hosts:
        assert f'data-host="{host.name}"' in page
        assert f'<option value="{host.name}">' in page
    assert "cannot connect: timed out" in page
    assert report.summary_line() in page
    for control in ('id="filter-status"', 'id="filter-section"', 'id="filter-host"'):
        assert control in page
    for status in Status:
        assert f'name="status" value="{status.value}" checked' in page
    assert '<option value="Pre-Deployment / Security">' in page
    assert page.count("<tr data-host=") == len(report.results)
    assert "coverage 83.3 %" in page  # per host: 125 of 150 items have a check


def test_html_escapes_report_text(report: Report) -> None:
    report.inventory = f"inv{HOSTILE}"
    page = html.render(report)
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert "remove &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script") == 1  # only the page's own script


# --- terminal table -----------------------------------------------------------------------


def test_table_has_summaries_and_collapses_unchecked(report: Report) -> None:
    text = table.render(report, console_width=200)
    assert report.summary_line() in text
    for host in ("web-1", "db-1"):
        line = " · ".join(["150 results", *(f"{s.label} 25" for s in Status), "coverage 83.3 %"])
        assert f"{host}: {line}" in text
    blocking = len(report.blocking_failures())
    assert re.search(rf"^│ all hosts .*│\s+83\.3 % │\s+{blocking} │$", text, re.M)
    assert "unreachable: cannot connect: timed out" in text
    assert "Pre-Deployment / Security" in text
    assert re.search(r"\d+ items? unchecked: SEC-", text)
    web_part = text[: re.search(r"^db-1 ", text, re.M).start()]
    for result in report.results_for("web-1"):
        own_row = re.search(rf"^│ {re.escape(result.item_id)} ", web_part, re.M)
        assert bool(own_row) is (result.status is not Status.UNCHECKED), result
    assert f"{len(report.blocking_failures())} blocking failures" in text
    assert "\x1b[" not in text  # plain text, no color codes


def test_table_verbose_lists_every_item(report: Report) -> None:
    text = table.render(report, console_width=200, verbose=True)
    assert "items unchecked" not in text
    for item in CATALOG:
        assert re.search(rf"^│ {re.escape(item.id)} ", text, re.M), item.id


def test_table_show_filters_rows_but_not_summary(report: Report) -> None:
    text = table.render(report, console_width=200, show=["fail"])
    listed = set(re.findall(r"^│ ([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+) ", text, re.M))
    failing = {r.item_id for r in report.results if r.status is Status.FAIL}
    assert listed == failing
    assert report.summary_line() in text


def test_table_keeps_markup_and_long_lines_literal(report: Report) -> None:
    with_evidence(report.results, 0, "[red]not markup[/red]")
    assert "[red]not markup[/red]" in table.render(report, console_width=200)
    text = table.render(report, console_width=80)
    assert report.summary_line() in text  # never wrapped
    assert "…" in text  # long item texts are truncated


def test_print_report_to_console(report: Report) -> None:
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=160, color_system="truecolor", force_terminal=True)
    table.print_report(report, console)
    output = console.file.getvalue()
    assert "\x1b[" in output and "Summary" in output


# --- all formats --------------------------------------------------------------------------


def test_registry() -> None:
    assert FORMATS == ("table", "json", "junit", "html")
    assert set(EXTENSIONS) == set(FORMATS)
    assert RENDERERS["json"] is json_report.render


@pytest.mark.parametrize("fmt", FORMATS)
def test_renderers_show_evidence_as_given(report: Report, fmt: str) -> None:
    """No redaction, no invention: evidence is rendered exactly as the check wrote it."""
    text = RENDERERS[fmt](report)
    assert SECRET in text
    assert "redacted" not in text.lower() and "***" not in text


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_report(report: Report, fmt: str, tmp_path: Path) -> None:
    target = tmp_path / "out" / f"report{EXTENSIONS[fmt]}"
    assert write_report(report, fmt, target) == target
    assert target.read_text("utf-8") == RENDERERS[fmt](report)


def test_write_report_rejects_unknown_format(report: Report, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown report format 'pdf'"):
        write_report(report, "pdf", tmp_path / "x.pdf")


def test_renderers_handle_an_empty_report() -> None:
    empty = Report(hosts=[], results=[], generated_at="2025-01-01T00:00:00+00:00")
    for fmt in FORMATS:
        assert RENDERERS[fmt](empty)
    json_report.validate(json_report.to_dict(empty))
    assert ET.fromstring(junit.render(empty)).get("tests") == "0"
