"""Audit speed without changing results: facts a check asks for only once it sees real values
come in one more batch (not one round trip each), and the browser probe of a web host starts
in the background as soon as the host's facts are in."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hardening import browser
from hardening.audit import evaluate_host, judge_batched, planned_facts
from hardening.catalog import CATALOG, Item
from hardening.checks import HostContext, fact_key, frontend, registry
from hardening.checks.frontend import BROWSER_CACHE_KEY, browser_probe, start_browser_probe
from hardening.results import Outcome, Status


class Mode:
    """Fact: whether the host runs in a container (the first thing a check reads)."""

    @staticmethod
    def default() -> str:
        return "none"


class Knob:
    """Fact asked for only on a container (the rehearsal with defaults cannot foresee it)."""

    @staticmethod
    def default() -> str:
        return "unset"


def knob_check(ctx: HostContext) -> Outcome:
    if ctx.fact(Mode) == "none":
        return Outcome.passed("no container")
    knob = ctx.fact(Knob, key="a")
    return Outcome.passed(knob) if knob == "on" else Outcome.failed(knob)


def item(number: int, check: str) -> Item:
    return Item(f"T-{number}", ("Test",), f"item {number}", "probe", "low", check, "", ())


CHECKS = {"one": knob_check, "two": knob_check, "plain": lambda ctx: Outcome.passed("plain")}
ITEMS = [item(1, "one"), item(2, "plain"), item(3, "two")]
HOST = {fact_key(Mode, {}): "lxc", fact_key(Knob, {"key": "a"}): "on"}


def test_late_facts_come_in_one_more_batch_and_their_checks_are_judged_again() -> None:
    singles: list[tuple] = []
    batches: list[list] = []

    def single(fact_class: type, **kwargs: Any) -> Any:
        singles.append((fact_class, kwargs))
        return HOST[fact_key(fact_class, kwargs)]

    def batch(requests: list[tuple[type, dict]]) -> dict[tuple, Any]:
        batches.append(requests)
        return {fact_key(cls, kwargs): HOST[fact_key(cls, kwargs)] for cls, kwargs in requests}

    context = HostContext("tb1", (), {}, single)
    planned = planned_facts(context, ITEMS, CHECKS)
    assert planned == [(Mode, {})]  # the defaults say "no container": Knob is not foreseen
    context._cache.update(batch(planned))
    results = judge_batched(context, ITEMS, CHECKS, batch)
    assert batches == [[(Mode, {})], [(Knob, {"key": "a"})]] and singles == []
    # both checks reading the late fact (the second one from the cache) see its real value
    assert [(r.item_id, r.status, r.evidence) for r in results] == [
        ("T-1", Status.PASS, "on"),
        ("T-2", Status.PASS, "plain"),
        ("T-3", Status.PASS, "on"),
    ]
    expected = evaluate_host(HostContext("tb1", (), {}, single), ITEMS, CHECKS)
    assert [(r.item_id, r.status, r.evidence) for r in expected] == [
        (r.item_id, r.status, r.evidence) for r in results
    ]


def test_no_late_facts_no_second_batch() -> None:
    context = HostContext("tb1", (), {}, lambda cls, **kw: pytest.fail("single fact"))
    context._cache[fact_key(Mode, {})] = "none"
    results = judge_batched(context, ITEMS, CHECKS, lambda r: pytest.fail("second batch"))
    assert [r.evidence for r in results] == ["no container", "plain", "no container"]


def test_a_late_fact_the_batch_lost_is_fetched_singly() -> None:
    singles: list[type] = []

    def single(fact_class: type, **kwargs: Any) -> Any:
        singles.append(fact_class)
        return HOST[fact_key(fact_class, kwargs)]

    context = HostContext("tb1", (), {}, single)
    context._cache[fact_key(Mode, {})] = "lxc"
    results = judge_batched(context, ITEMS, CHECKS, lambda requests: {})  # connection broke
    assert singles == [Knob] and results[0].evidence == "on"


def web_host(deployed: bool = True, groups: tuple[str, ...] = ("web",)) -> HostContext:
    return HostContext("tb1", groups, {}, lambda cls, **kw: {"deployed": deployed})


def test_browser_probe_starts_in_the_background_and_runs_once(monkeypatch) -> None:
    release = threading.Event()
    calls: list[str] = []

    def fake(url: str, *args: Any, **kwargs: Any) -> dict:
        calls.append(url)
        release.wait(5)
        return {"pages": []}

    monkeypatch.setattr(browser, "run_probe", fake)
    ctx = web_host()
    start_browser_probe(ctx)
    start_browser_probe(ctx)  # already running: not a second browser
    assert not isinstance(ctx._cache[BROWSER_CACHE_KEY], dict)  # running, not awaited
    release.set()
    assert browser_probe(ctx) == {"pages": []} and browser_probe(ctx) == {"pages": []}
    assert len(calls) == 1


def test_no_background_probe_without_the_app_or_off_the_web_tier(monkeypatch) -> None:
    monkeypatch.setattr(browser, "run_probe", lambda *a, **k: pytest.fail("browser launched"))
    for ctx in (web_host(deployed=False), web_host(groups=("db_primary",))):
        start_browser_probe(ctx)
        assert BROWSER_CACHE_KEY not in ctx._cache


def test_background_probe_error_is_reported_by_the_checks(monkeypatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> dict:
        raise OSError("no display")

    monkeypatch.setattr(browser, "run_probe", broken)
    ctx = web_host()
    start_browser_probe(ctx)
    outcome = registry()["frontend.responsive"](ctx)
    assert outcome.status is Status.FAIL and "no display" in outcome.evidence


def test_browser_items_are_web_items() -> None:
    """start_browser_probe decides by the catalog's groups of FE-07/FE-08."""
    groups = {i.groups for i in CATALOG if i.id in ("FE-07", "FE-08")}
    assert groups == {("web",)}


def test_early_probe_starts_when_the_origin_answers_and_is_cancelled_without_the_app(
    monkeypatch,
) -> None:
    cancelled = threading.Event()

    def fake(url: str, *args: Any, cancel: threading.Event, **kwargs: Any) -> dict:
        if cancel.wait(5):
            cancelled.set()
        return {"error": "browser probe cancelled"}

    monkeypatch.setattr(browser, "run_probe", fake)
    monkeypatch.setattr(frontend, "_origin_answers", lambda ctx: True)
    ctx = web_host(deployed=False)
    start_browser_probe(ctx, early=True)  # before the facts: the origin answers, so start
    running = ctx._cache[BROWSER_CACHE_KEY]
    start_browser_probe(ctx)  # the AppProbe fact says: no application
    running.join(5)
    assert cancelled.is_set() and BROWSER_CACHE_KEY not in ctx._cache


def test_no_browser_when_the_origin_refuses_early(monkeypatch) -> None:
    monkeypatch.setattr(browser, "run_probe", lambda *a, **k: pytest.fail("browser launched"))
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    ctx = HostContext("tb1", ("web",), {"frontend_url": f"http://127.0.0.1:{port}"}, dict)
    start_browser_probe(ctx, early=True)  # the origin is tried in the background
    ctx._cache[BROWSER_CACHE_KEY].join(5)
    assert ctx._cache[BROWSER_CACHE_KEY].found is None


def test_no_early_start_for_hosts_without_an_address(monkeypatch) -> None:
    monkeypatch.setattr(frontend, "_origin_answers", lambda ctx: pytest.fail("name looked up"))
    ctx = HostContext("@fake/host1", ("web",), {}, dict)
    start_browser_probe(ctx, early=True)
    assert BROWSER_CACHE_KEY not in ctx._cache


def test_cancel_kills_the_probe_process(tmp_path: Path, monkeypatch) -> None:
    sleeper = tmp_path / "python"
    sleeper.write_text("#!/bin/sh\nexec sleep 60\n")
    sleeper.chmod(0o755)
    monkeypatch.setattr(browser.sys, "executable", str(sleeper))
    monkeypatch.setattr(browser, "missing_tools", lambda chromium: "")
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    found = browser.run_probe("http://127.0.0.1", ["/"], ["375x667"], cancel=cancel)
    assert found == {"error": "browser probe cancelled"}
    assert time.monotonic() - started < 10


def test_sections_of_another_script_are_ignored() -> None:
    """Replayed output (bench/fleet.py's @fake hosts answer every batch with one recording)
    must not break a smaller batch: unknown sections are skipped, not misparsed."""
    from hardening.batch import parse_sections

    class Echo:
        @staticmethod
        def default() -> list:
            return []

        def process(self, output: list[str]) -> list[str]:
            return output

    lines = ["@@m 0", "zero", "@@m-end 0 0", "@@m 1", "one", "@@m-end 1 0", "@@m-end 7 0"]
    assert parse_sections([(Echo, {})], lines, "@@m") == {fact_key(Echo, {}): ["zero"]}
