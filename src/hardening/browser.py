"""Headless Chromium probe run on the control node (FE-07 responsive design, FE-08 WCAG 2.1).

Debian's Chromium (``/usr/bin/chromium``) is driven through Playwright for Python (its
wheel carries the driver; no browser is downloaded). axe-core's ``axe.min.js`` comes from
the ``axe-playwright-python`` wheel (axe-core 4.x, MPL-2.0), or from ``$HARDENING_AXE_JS``.

The probe is bounded and fenced in:

- it runs in a child process (``python -m hardening.browser``) killed after the total cap,
  so neither Playwright's event loop nor a hung browser can stall the audit's gevent loop;
- every page load has its own timeout;
- it only loads the declared pages of one target origin: any request (sub-resource,
  redirect, WebSocket) to another host is aborted, host names other than the target's
  do not resolve inside Chromium, service workers are blocked, and the profile is fresh.

**Example:**

    from hardening.browser import run_probe

    found = run_probe("http://10.77.1.2", ["/", "/offline.html"], ["375x667", "1366x768"])
    found["pages"][0]["axe"]      # [{"id": "image-alt", "impact": "critical", "nodes": 1, ...}]
    found["pages"][0]["layouts"]  # [{"viewport": "375x667", "meta_viewport": True, ...}]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

CHROMIUM = "/usr/bin/chromium"
SETUP_FIX = "bash scripts/setup.sh installs chromium, playwright and axe-core"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: axe-core tags of WCAG 2.0 and 2.1, levels A and AA.
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
#: How many offending selectors a finding lists.
MAX_SELECTORS = 5

#: Layout facts of the loaded page at the current viewport (run in the page).
LAYOUT_JS = """([minFont, maxSelectors]) => {
  const width = window.innerWidth;
  const scroller = document.scrollingElement || document.documentElement;
  const describe = (el) => {
    const parts = [];
    for (let node = el; node && node !== document.body && parts.length < 3;
         node = node.parentElement) {
      if (node.id) { parts.unshift('#' + node.id); break; }
      let part = node.tagName.toLowerCase();
      if (node.classList.length) part += '.' + [...node.classList].join('.');
      const same = node.parentElement
        ? [...node.parentElement.children].filter((c) => c.tagName === node.tagName) : [];
      if (same.length > 1) part += ':nth-of-type(' + (same.indexOf(node) + 1) + ')';
      parts.unshift(part);
    }
    return parts.join(' > ');
  };
  const visible = (el) => {
    const style = getComputedStyle(el);
    const rect = el.getBoundingClientRect();
    return style.display !== 'none' && style.visibility !== 'hidden'
      && rect.width > 0 && rect.height > 0;
  };
  const clipped = (el) => {
    for (let node = el.parentElement; node && node !== document.body;
         node = node.parentElement) {
      if (getComputedStyle(node).overflowX !== 'visible') return true;
    }
    return false;
  };
  const wide = [];
  const small = [];
  const reported = new Set();
  for (const el of document.body ? document.body.querySelectorAll('*') : []) {
    if (!visible(el)) continue;
    const rect = el.getBoundingClientRect();
    if ((rect.width > width + 1 || rect.right > width + 1) && !clipped(el)) {
      reported.add(el);  // only the outermost offender is listed, not its descendants
      if (!reported.has(el.parentElement) && wide.length < maxSelectors) {
        wide.push(describe(el) + ' (' + Math.round(rect.width) + 'px)');
      }
    }
    const text = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (text && size < minFont && small.length < maxSelectors) {
      small.push(describe(el) + ' (' + size + 'px)');
    }
  }
  const meta = document.querySelector('meta[name="viewport"]');
  return {
    meta_viewport: meta ? meta.getAttribute('content') || '' : null,
    scroll_width: scroller.scrollWidth,
    inner_width: width,
    wide: wide,
    small_text: small,
  };
}"""

AXE_RUN_JS = """(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags},
  resultTypes: ['violations']}).then((r) => ({
    version: axe.version,
    violations: r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.length, targets: v.nodes.slice(0, 5).map((n) => n.target.join(' '))})),
  }))"""


def axe_script() -> Path | None:
    """Path of ``axe.min.js``: ``$HARDENING_AXE_JS``, else the one axe-playwright-python ships."""
    override = os.environ.get("HARDENING_AXE_JS")
    if override:
        return Path(override) if Path(override).is_file() else None
    try:
        import axe_playwright_python
    except ImportError:
        return None
    bundled = Path(axe_playwright_python.__file__).parent / "axe.min.js"
    return bundled if bundled.is_file() else None


def missing_tools(chromium: str = CHROMIUM) -> str:
    """Why the probe cannot run on this control node ('' when it can)."""
    missing = []
    if not shutil.which(chromium):
        missing.append(f"headless Chromium ({chromium})")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("Playwright for Python")
    if axe_script() is None:
        missing.append("axe-core (axe.min.js)")
    return " and ".join(missing) + " not found on the control node" if missing else ""


def parse_viewport(text: str) -> dict[str, int]:
    """``"375x667"`` -> ``{"width": 375, "height": 667}``; ValueError when malformed."""
    width, sep, height = text.lower().partition("x")
    if not sep or not width.strip().isdigit() or not height.strip().isdigit():
        raise ValueError(f"viewport {text!r} is not WIDTHxHEIGHT")
    return {"width": int(width), "height": int(height)}


def run_probe(
    base_url: str,
    pages: list[str],
    viewports: list[str],
    *,
    min_font_px: int = 12,
    page_timeout: float = 15,
    total_timeout: float = 120,
    chromium: str = CHROMIUM,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """Load each page of ``base_url`` at each viewport in a child process; see the module doc.

    Setting ``cancel`` (from another thread) kills the child and its browser.

    Returns ``{"browser": version, "axe": version, "pages": [{"path", "url", "status",
    "error", "axe": [violations], "layouts": [{"viewport", "meta_viewport", "scroll_width",
    "inner_width", "wide", "small_text"}]}]}``, or ``{"error": reason}`` when the probe
    could not run (tools missing, total cap exceeded, browser crash).
    """
    missing = missing_tools(chromium)
    if missing:
        return {"error": missing, "missing": True}
    request = {
        "base_url": base_url,
        "pages": list(pages),
        "viewports": list(viewports),
        "min_font_px": min_font_px,
        "page_timeout": page_timeout,
        "total_timeout": total_timeout,
        "chromium": chromium,
        "axe_js": str(axe_script()),
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "hardening.browser"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + total_timeout + 15
    sent: str | None = json.dumps(request)
    while True:  # wait for the child in short steps, to notice ``cancel`` and the cap
        try:
            stdout, stderr = child.communicate(sent, timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            sent = None
            cancelled = cancel is not None and cancel.is_set()
            if cancelled or time.monotonic() > deadline:
                child.kill()
                child.communicate()
                why = "cancelled" if cancelled else f"exceeded its {total_timeout:.0f} s cap"
                return {"error": f"browser probe {why}"}
    try:
        return json.loads(stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"browser probe failed (exit {child.returncode}): {tail[:300]}"}


def _same_origin(url: str, target: str) -> bool:
    found, wanted = urlsplit(url), urlsplit(target)
    return found.scheme in ("http", "https", "ws", "wss") and found.hostname == wanted.hostname


def _fence(context: Any, target: str) -> None:
    """Abort every request and WebSocket that does not go to the target host."""

    def route(route: Any) -> None:
        if _same_origin(route.request.url, target):
            route.continue_()
        else:
            route.abort("blockedbyclient")

    context.route("**/*", route)
    if hasattr(context, "route_web_socket"):

        def socket(ws: Any) -> None:
            if _same_origin(ws.url, target):
                ws.connect_to_server()
            else:
                ws.close()

        context.route_web_socket("**/*", socket)


def _load(page: Any, url: str, timeout_ms: float) -> tuple[int, str]:
    """Navigate; return (HTTP status, error text)."""
    try:
        response = page.goto(url, timeout=timeout_ms, wait_until="load")
    except Exception as error:  # Playwright's TimeoutError/Error: reported, not raised
        return 0, str(error).splitlines()[0][:200]
    status = response.status if response else 0
    return status, "" if 0 < status < 400 else f"HTTP {status}"


def _probe(request: dict[str, Any]) -> dict[str, Any]:
    """Run in the child process: drive Chromium over the declared pages and viewports."""
    from playwright.sync_api import sync_playwright

    deadline = time.monotonic() + request["total_timeout"]
    target = request["base_url"]
    host = urlsplit(target).hostname or ""
    timeout_ms = request["page_timeout"] * 1000
    axe_js = Path(request["axe_js"]).read_text()
    resolver = f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {host}"
    result: dict[str, Any] = {"pages": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=request["chromium"],
            args=[*CHROMIUM_ARGS, resolver],
            timeout=timeout_ms,
        )
        result["browser"] = browser.version
        for path in request["pages"]:
            url = urljoin(target.rstrip("/") + "/", path.lstrip("/"))
            entry: dict[str, Any] = {"path": path, "url": url, "axe": [], "layouts": []}
            result["pages"].append(entry)
            for number, viewport in enumerate(request["viewports"]):
                if time.monotonic() > deadline:
                    entry["error"] = "total time cap reached"
                    break
                context = browser.new_context(
                    viewport=parse_viewport(viewport),
                    ignore_https_errors=True,
                    service_workers="block",
                )
                _fence(context, target)
                page = context.new_page()
                page.set_default_timeout(timeout_ms)
                entry["status"], entry["error"] = _load(page, url, timeout_ms)
                if entry["error"]:
                    context.close()
                    break
                layout = page.evaluate(LAYOUT_JS, [request["min_font_px"], MAX_SELECTORS])
                entry["layouts"].append({"viewport": viewport, **layout})
                if number == 0:  # axe once per page, at the first declared viewport
                    page.evaluate(axe_js)
                    found = page.evaluate(AXE_RUN_JS, list(WCAG_TAGS))
                    result["axe"], entry["axe"] = found["version"], found["violations"]
                context.close()
        browser.close()
    return result


def main() -> None:
    """Child-process entry point: a JSON request on stdin, one JSON line on stdout."""
    request = json.loads(sys.stdin.read())
    try:
        result = _probe(request)
    except Exception as error:  # the parent reports it as a failed observation
        result = {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
