"""Deploy-day: checks on canned records, fact parsing, the host tool's gates, the
orchestrator's gate parsing and rollback decision (integration: tests/integration)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from hardening import deployday
from hardening.checks import HostContext, registry
from hardening.checks.deployday import GATES, leak_suspected
from hardening.facts.deployday import DeployDayRecord, DeployDayWatch
from hardening.operations.deployday import tool_text
from hardening.results import Status

CHECKS = registry()


def ctx(record: Any = None, watch: Any = None) -> HostContext:
    facts = {DeployDayRecord: record, DeployDayWatch: watch}
    return HostContext("h1", ("web",), {}, lambda cls, **kw: facts[cls])


def record(result: str = "success", **gates: str) -> dict:
    return {
        "release": "v2",
        "result": result,
        "gates": {
            name: {"status": status, "detail": "d", "at": "t"} for name, status in gates.items()
        },
    }


def test_every_gate_check_is_in_the_catalog() -> None:
    from hardening.catalog import CATALOG

    names = {item.check for item in CATALOG}
    assert set(GATES) <= names
    assert {"deployday.stability", "deployday.memory_leak"} <= names


def test_no_run_is_pending() -> None:
    outcome = CHECKS["deployday.backend_health"](ctx())
    assert outcome.status is Status.PENDING
    assert "no deploy-day run recorded" in outcome.evidence


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("pass", Status.PASS),
        ("fail", Status.FAIL),
        ("skip", Status.NOT_APPLICABLE),
        ("pending", Status.PENDING),
    ],
)
def test_gate_status_maps_to_outcome(status: str, expected: Status) -> None:
    outcome = CHECKS["deployday.smoke_tests"](ctx(record(smoke_tests=status)))
    assert outcome.status is expected
    assert "release v2" in outcome.evidence


def test_gate_missing_after_rollback_fails_and_names_the_failed_gate() -> None:
    outcome = CHECKS["deployday.smoke_tests"](ctx(record("rolled_back", backend_health="fail")))
    assert outcome.status is Status.FAIL
    assert "backend_health" in outcome.evidence


def test_gate_missing_on_successful_run_is_not_applicable() -> None:
    outcome = CHECKS["deployday.frontend_loads"](ctx(record(state_snapshot="pass")))
    assert outcome.status is Status.NOT_APPLICABLE


def sample(rss: int, **extra: Any) -> dict:
    base = {
        "at": "t",
        "failed_units": [],
        "restarts": 0,
        "rss_kib": rss,
        "prometheus_up": 3.0,
        "row_counts": {"db/items": 10},
        "baseline_row_counts": {"db/items": 10},
    }
    return {**base, **extra}


def test_watch_checks() -> None:
    good = {"samples": [sample(100), sample(120), sample(105)]}
    for name in ("stability", "metrics_collected", "data_integrity", "memory_leak"):
        assert CHECKS[f"deployday.{name}"](ctx(watch=good)).status is Status.PASS, name
    bad = {
        "samples": [
            sample(100),
            sample(120, restarts=1),
            sample(150, failed_units=["x.service"], row_counts={"db/items": 4}),
        ]
    }
    for name in ("stability", "data_integrity", "memory_leak"):
        assert CHECKS[f"deployday.{name}"](ctx(watch=bad)).status is Status.FAIL, name
    assert CHECKS["deployday.memory_leak"](ctx(watch=None)).status is Status.PENDING


def test_leak_suspected() -> None:
    assert leak_suspected([100, 110, 130])
    assert not leak_suspected([100, 130, 120])
    assert not leak_suspected([100, 101, 102])


def test_fact_parsing() -> None:
    assert DeployDayRecord().process(["#absent"]) is None
    assert DeployDayRecord().process(["{not json"]) is None
    assert DeployDayWatch().process(['{"samples": []}']) == {"samples": []}


@pytest.fixture()
def tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # the tool as installed: the template with hardening.wsprobe inlined
    installed = tmp_path / "bin" / "hardening-deployday.py"
    installed.parent.mkdir()
    installed.write_text(tool_text())
    spec = importlib.util.spec_from_file_location("hardening_deployday_tool", installed)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "STATE", str(tmp_path))
    return module


def test_tool_records_gates_and_fails_loudly(tool, tmp_path: Path, capsys) -> None:
    assert tool.gate("v2", "smoke_tests", "pass", "/healthz=200") == 0
    assert tool.gate("v2", "backend_health", "fail", "nothing answered") == 1
    assert "GATE FAILED backend_health: nothing answered" in capsys.readouterr().err
    last = json.loads((tmp_path / "last.json").read_text())
    assert last["release"] == "v2" and set(last["gates"]) == {"smoke_tests", "backend_health"}


def test_tool_switch_and_rollback_symlinks(tool, tmp_path: Path) -> None:
    for version in ("v1", "v2"):
        (tmp_path / "app" / "releases" / version).mkdir(parents=True)
    current = tmp_path / "app" / "current"
    current.symlink_to(tmp_path / "app" / "releases" / "v1")
    tool.link_to(str(current), str(tmp_path / "app" / "releases" / "v2"))
    assert current.resolve().name == "v2"


def test_gate_failure_is_parsed_from_pyinfra_output() -> None:
    output = "    [tb1] GATE FAILED backend_health: http://127.0.0.1:8000/healthz answered 500\n"
    match = deployday._GATE_FAILED.search(output)
    assert match and match.group(1) == "backend_health"


def test_missing_backup_stops_before_anything_changes(tmp_path: Path, monkeypatch) -> None:
    run = deployday.Run("inv.py", "v2", tmp_path / "runs", tmp_path / "docs")
    monkeypatch.setattr(deployday, "_hosts", lambda inventory: [])
    calls: list = []
    monkeypatch.setattr(deployday.Run, "pyinfra", lambda self, *a, **k: calls.append(a))
    assert deployday.deploy_day(run) == 1
    assert calls == []  # no rollback: nothing was deployed
    result = json.loads((tmp_path / "runs" / "run.json").read_text())
    assert result["failed_gate"] == "preflight_backup" and result["result"] == "stopped"


def test_health_db_and_websocket_frame(tool) -> None:
    assert tool.health_db(b'{"status": "ok", "db": "error"}') == "error"
    assert tool.health_db(b"<html>") is None
    frame = tool.ws_frame("ping")
    assert frame[0] == 0x81 and frame[1] == 0x80 | 4
    mask, payload = frame[2:6], frame[6:]
    assert bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) == b"ping"
    ok, detail = tool.ws_echo("ws://127.0.0.1:9/ws")
    assert not ok and "no WebSocket" in detail
