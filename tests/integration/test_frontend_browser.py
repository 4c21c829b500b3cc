"""FE-07 (responsive design) and FE-08 (WCAG 2.1 with axe-core) through the control node's
headless Chromium against a real web host: the fresh host's default nginx page fails, the
reference app behind deploys/web.py passes, a rerun changes nothing, and a deliberately
broken page (image without alt text, a fixed 1200px box, 10px text) fails with the rule ids
and selectors as evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes, statuses

ITEMS = ("FE-07", "FE-08")
STATIC = "/srv/hardening-demo-app/static"
PAGES = ["/", "/offline.html"]

INVENTORY = """
from hardening.testbed import load_inventory
globals().update(load_inventory())
web = [(name, {**data, "frontend_pages": PAGES, **EXTRA}) for name, data in web]
"""

# styles in a file: the site's Content-Security-Policy (default-src 'self') drops inline ones
BROKEN_CSS = "#banner { width: 1200px; }\n.fine-print { font-size: 10px; }\n"
BROKEN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>broken</title>
<link rel="stylesheet" href="/static/broken.css"></head>
<body><main><h1>Broken</h1><img src="/static/images/logo.svg">
<div id="banner">a fixed-width banner</div>
<p class="fine-print">fine print</p>
<img src="https://cdn.example.com/tracker.png" alt="tracker"></main></body></html>
"""


def _inventory(bed, pages: list[str], **extra: str) -> None:
    text = INVENTORY.replace("PAGES", repr(pages)).replace("EXTRA", repr(extra))
    Path(bed.inventory).write_text(text)


@pytest.fixture(scope="module")
def bed(module_bed, tmp_path_factory):
    module_bed.inventory = str(tmp_path_factory.mktemp("frontend") / "inventory.py")
    _inventory(module_bed, PAGES)
    done = module_bed.pyinfra("deploys/app.py")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return module_bed


def _audit(bed, tmp_path: Path, *extra: str) -> tuple[dict, dict]:
    done, report = audit_json(bed, tmp_path, *extra)
    secrets = [
        line.split("=", 1)[1]
        for line in bed.run("tb1", "cat /etc/hardening-demo-app/env").splitlines()
        if "SECRET" in line.split("=", 1)[0]
    ]
    for secret in filter(None, secrets):
        assert secret not in done.stdout + done.stderr + str(report)
    return report, statuses(report)


def test_fresh_web_host_fails(bed, tmp_path: Path) -> None:
    # the default origin is https (web_tls): nothing answers there on a fresh host
    report, found = _audit(bed, tmp_path, "--limit", "tb1")
    for item in ITEMS:
        assert found[("tb1", item)] == "fail", (item, evidence(report, "tb1", item))
    # Debian's welcome page on plain http, judged as a browser renders it
    _inventory(bed, PAGES, frontend_url=f"http://{bed.hosts[0].address}")
    try:
        report, found = _audit(bed, tmp_path)
    finally:
        _inventory(bed, PAGES)
    for item in ITEMS:
        assert found[("tb1", item)] == "fail", (item, evidence(report, "tb1", item))
        assert found[("tb2", item)] == "not_applicable"
    # Debian's nginx welcome page: no lang, no meta viewport; no offline page
    assert "html-has-lang (serious) ×1 on /" in evidence(report, "tb1", "FE-08")
    assert "/ @375x667: no <meta name=viewport>" in evidence(report, "tb1", "FE-07")
    assert "/offline.html: HTTP 404" in evidence(report, "tb1", "FE-07")


def test_reference_app_passes_and_rerun_changes_nothing(bed, tmp_path: Path) -> None:
    first = bed.pyinfra("deploys/web.py")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    report, found = _audit(bed, tmp_path, "--limit", "tb1")
    for item in ITEMS:
        assert found[("tb1", item)] == "pass", (item, evidence(report, "tb1", item))
    assert "axe-core WCAG 2.1 A+AA on /, /offline.html: 0 violation(s)" in evidence(
        report, "tb1", "FE-08"
    )
    assert "1920x1080" in evidence(report, "tb1", "FE-07")
    second = bed.pyinfra("deploys/web.py")
    assert second.returncode == 0, second.stdout[-3000:]
    assert pyinfra_changes(second) == 0, second.stdout[-3000:]


def test_broken_page_fails_with_rules_and_selectors(bed, tmp_path: Path) -> None:
    bed.run("tb1", f"cat > {STATIC}/broken.html <<'EOF'\n{BROKEN_PAGE}EOF")
    bed.run("tb1", f"cat > {STATIC}/broken.css <<'EOF'\n{BROKEN_CSS}EOF")
    _inventory(bed, [*PAGES, "/broken.html"])
    report, found = _audit(bed, tmp_path, "--limit", "tb1")
    for item in ITEMS:
        assert found[("tb1", item)] == "fail", (item, evidence(report, "tb1", item))
    fe08, fe07 = evidence(report, "tb1", "FE-08"), evidence(report, "tb1", "FE-07")
    assert "image-alt (critical) ×1 on /broken.html" in fe08, fe08
    assert " on /:" not in fe08 and "/offline.html:" not in fe08, fe08
    assert "/broken.html @375x667: no <meta name=viewport>" in fe07, fe07
    assert "/broken.html @375x667: horizontal overflow" in fe07, fe07
    assert "wider than the viewport: #banner (1200px)" in fe07, fe07
    assert "/broken.html @1920x1080: text below 12px: main > p.fine-print (10px)" in fe07
    assert "/ @" not in fe07, fe07
