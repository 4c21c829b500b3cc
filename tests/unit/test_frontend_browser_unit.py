"""FE-07/FE-08 checks on canned browser-probe results, the probe's guards, and the release
deploy's "already live" decision. The real browser runs in
tests/integration/test_frontend_browser.py (and below against a local page, when
Chromium is installed)."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from hardening import browser
from hardening.checks import HostContext, registry
from hardening.checks.frontend import BROWSER_CACHE_KEY, frontend_url
from hardening.deploys.release import already_live
from hardening.facts.app import AppProbe
from hardening.results import Status

CHECKS = registry()
RESPONSIVE, ACCESSIBLE = CHECKS["frontend.responsive"], CHECKS["frontend.accessibility"]
GOOD_LAYOUT = {"meta_viewport": "width=device-width", "scroll_width": 375, "inner_width": 375}
GOOD_LAYOUT |= {"wide": [], "small_text": []}
BROKEN_LAYOUT = {"meta_viewport": None, "scroll_width": 1208, "inner_width": 375}
BROKEN_LAYOUT |= {"wide": ["#banner (1200px)"], "small_text": ["main > p.fine (10px)"]}
IMAGE_ALT = {"id": "image-alt", "impact": "critical", "help": "", "nodes": 2}
IMAGE_ALT |= {"targets": ["img.a", "img.b"]}
REGION = {"id": "region", "impact": "moderate", "help": "", "nodes": 1, "targets": ["p"]}


def page(path: str, layouts: list[dict], axe: list[dict], error: str = "") -> dict:
    return {
        "path": path,
        "url": "http://tb1" + path,
        "status": 404 if error else 200,
        "error": error,
        "axe": axe,
        "layouts": [{"viewport": "375x667", **layout} for layout in layouts],
    }


def context(found: dict | None, deployed: bool = True, **data: Any) -> HostContext:
    """A web host whose browser probe result is ``found`` (None: probe never cached)."""
    ctx = HostContext("tb1", ("web",), data, lambda cls, **kw: {"deployed": deployed})
    if found is not None:
        ctx._cache[BROWSER_CACHE_KEY] = found
    return ctx


def test_clean_pages_pass() -> None:
    ctx = context({"pages": [page("/", [GOOD_LAYOUT], [])]})
    assert RESPONSIVE(ctx).status is Status.PASS
    outcome = ACCESSIBLE(ctx)
    assert outcome.status is Status.PASS
    assert "axe-core WCAG 2.1 A+AA on /: 0 violation(s)" in outcome.evidence


def test_axe_violations_become_findings_and_minor_ones_are_only_listed() -> None:
    ctx = context({"pages": [page("/", [], [REGION]), page("/b.html", [], [IMAGE_ALT])]})
    outcome = ACCESSIBLE(ctx)
    assert outcome.status is Status.FAIL and outcome.fix
    assert outcome.evidence.startswith("image-alt (critical) ×2 on /b.html: img.a, img.b")
    assert "listed only: region (moderate) ×1 on /: p" in outcome.evidence
    assert ACCESSIBLE(context({"pages": [page("/", [], [REGION])]})).status is Status.PASS
    strict = context({"pages": [page("/", [], [REGION])]}, frontend_fail_impacts=["moderate"])
    assert ACCESSIBLE(strict).status is Status.FAIL


def test_layout_findings() -> None:
    outcome = RESPONSIVE(context({"pages": [page("/b.html", [BROKEN_LAYOUT], [])]}))
    assert outcome.status is Status.FAIL
    for finding in (
        "/b.html @375x667: no <meta name=viewport>",
        "/b.html @375x667: horizontal overflow (scrollWidth 1208 > 375)",
        "/b.html @375x667: wider than the viewport: #banner (1200px)",
        "/b.html @375x667: text below 12px: main > p.fine (10px)",
    ):
        assert finding in outcome.evidence


def test_unreachable_page_fails_both_items() -> None:
    ctx = context({"pages": [page("/gone", [], [], error="HTTP 404")]})
    for check in (RESPONSIVE, ACCESSIBLE):
        outcome = check(ctx)
        assert outcome.status is Status.FAIL and "/gone: HTTP 404" in outcome.evidence


def test_missing_browser_fails_with_the_setup_fix(monkeypatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    found = browser.run_probe("http://tb1", ["/"], ["375x667"], chromium="/nonexistent")
    assert found["missing"] and "headless Chromium (/nonexistent)" in found["error"]
    outcome = RESPONSIVE(context(found))
    assert outcome.status is Status.FAIL
    assert "not found on the control node" in outcome.evidence
    assert outcome.fix == browser.SETUP_FIX


def test_no_browser_run_without_the_app_nor_in_the_fact_rehearsal(monkeypatch) -> None:
    monkeypatch.setattr(browser, "run_probe", lambda *a, **k: pytest.fail("browser launched"))
    # the audit's rehearsal answers facts with their defaults: "not deployed"
    rehearsal = HostContext("tb1", ("web",), {}, lambda cls, **kw: cls().default())
    assert AppProbe().default().get("deployed") is not True
    for check in (RESPONSIVE, ACCESSIBLE):
        assert check(rehearsal).status is Status.FAIL
        assert "application not deployed" in check(context(None, deployed=False)).evidence


def test_probe_runs_once_per_host(monkeypatch) -> None:
    calls: list[tuple] = []

    def fake(url: str, pages: list[str], viewports: list[str], **kwargs: Any) -> dict:
        calls.append((url, pages, viewports))
        return {"pages": [page("/", [GOOD_LAYOUT], [])]}

    monkeypatch.setattr(browser, "run_probe", fake)
    ctx = context(None, ssh_hostname="10.77.1.2")
    ACCESSIBLE(ctx), RESPONSIVE(ctx)
    assert calls == [("https://10.77.1.2", ["/"], ["375x667", "768x1024", "1366x768", "1920x1080"])]
    assert frontend_url(context(None, frontend_url="https://app.example.net")) == (
        "https://app.example.net"
    )


def test_viewport_parsing() -> None:
    assert browser.parse_viewport("375x667") == {"width": 375, "height": 667}
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        browser.parse_viewport("wide")


def test_fence_allows_only_the_target_host() -> None:
    assert browser._same_origin("http://10.77.1.2/static/app.js", "http://10.77.1.2")
    assert browser._same_origin("ws://10.77.1.2/ws", "http://10.77.1.2")
    assert not browser._same_origin("https://cdn.example.com/x.png", "http://10.77.1.2")
    assert not browser._same_origin("file:///etc/passwd", "http://10.77.1.2")


@pytest.mark.skipif(browser.missing_tools() != "", reason="no Chromium/Playwright/axe-core")
def test_real_browser_on_a_local_page(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>t</title></head>'
        '<body><main><img src="/a.svg"><div id="wide" style="width:1200px">x</div>'
        '<img src="https://cdn.example.com/x.png" alt="x"></main></body></html>'
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        found = browser.run_probe(f"http://127.0.0.1:{server.server_port}", ["/"], ["375x667"])
    finally:
        server.shutdown()
    result = found["pages"][0]
    assert [v["id"] for v in result["axe"]] == ["image-alt"], found
    assert result["layouts"][0]["wide"] == ["#wide (1200px)"]
    assert result["layouts"][0]["meta_viewport"] is None


def test_release_already_live() -> None:
    done = {"release": "v2", "result": "success"}
    assert already_live(done, "v2", "/opt/app/releases/v2")
    assert already_live(done, "v2", None)  # a host without the app
    assert not already_live(done, "v2", "/opt/app/releases/v1")  # switched away since
    assert not already_live(done, "v3", "/opt/app/releases/v2")
    assert not already_live({**done, "result": "rolled_back"}, "v2", "/opt/app/releases/v2")
    assert not already_live(None, "v2", None)
