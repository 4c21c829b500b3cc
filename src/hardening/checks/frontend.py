"""Frontend checks (FE-01..04, PERF-06, PERF-07) on the built bundle in ``app_static_dir``
and the service worker as the application serves it; FE-07 (responsive design) and FE-08
(WCAG 2.1 with axe-core) from a headless Chromium on the control node
(:mod:`hardening.browser`), run once per web host."""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit

from hardening.browser import MAX_SELECTORS, SETUP_FIX
from hardening.checks import HostContext, check
from hardening.checks.app import FIX, NOT_DEPLOYED, deployed, failed_unless, probe, setting
from hardening.results import Outcome
from hardening.web_policy import web_base_url

TEXT_ASSETS = (".js", ".mjs", ".css", ".html")


def bundle_files(ctx: HostContext) -> list[dict] | None:
    """The bundle's files, or None when there is no bundle (application not deployed)."""
    bundle = probe(ctx).get("bundle") or {}
    return bundle.get("files") or None


def _not_deployed() -> Outcome:
    return Outcome.failed(NOT_DEPLOYED, fix=FIX)


@check("frontend.bundle_built")
def bundle_built(ctx: HostContext) -> Outcome:
    """FE-01: scripts are fingerprinted, minified (no comment lines) and ship no source maps."""
    files = bundle_files(ctx)
    if files is None:
        return _not_deployed()
    scripts = [f for f in files if f["name"].endswith((".js", ".mjs", ".css"))]
    app_scripts = [f for f in scripts if f["name"] != "sw.js"]
    problems = [f"{f['name']} is not fingerprinted" for f in app_scripts if not f["fingerprinted"]]
    problems += [f"{f['name']} references a source map" for f in scripts if f.get("sourcemap")]
    problems += [f"{f['name']} is not minified" for f in scripts if f.get("comment_lines")]
    if not app_scripts:
        problems.append("no scripts or styles in the bundle")
    total = sum(f["gzip_size"] for f in files)
    names = ", ".join(f["name"] for f in app_scripts)
    return failed_unless(problems, f"{names}: fingerprinted, minified; {total} bytes gzip total")


def _urls(files: list[dict], schemes: tuple[str, ...]) -> list[str]:
    return sorted({url for f in files for url in f.get("urls", []) if url.startswith(schemes)})


def _foreign(ctx: HostContext, urls: list[str]) -> list[str]:
    from hardening.checks.app import production_hosts

    hosts = production_hosts(ctx)
    return [url for url in urls if urlsplit(url).hostname not in hosts]


@check("frontend.api_endpoints")
def api_endpoints(ctx: HostContext) -> Outcome:
    """FE-02: every http(s) URL in the built assets points at a production host."""
    files = bundle_files(ctx)
    if files is None:
        return _not_deployed()
    urls = _urls(files, ("http://", "https://"))
    foreign = _foreign(ctx, urls)
    if foreign:
        return Outcome.failed(
            "non-production URLs in the bundle: " + ", ".join(foreign),
            fix="rebuild the bundle with production API URLs (app_public_url), then deploys/app.py",
        )
    return Outcome.passed(f"{len(urls)} URL(s), all production: {', '.join(urls) or 'none'}")


@check("frontend.websocket")
def websocket_url(ctx: HostContext) -> Outcome:
    """FE-03: the bundle's WebSocket URL points at production and the backend echoes."""
    files = bundle_files(ctx)
    if files is None:
        return _not_deployed()
    urls = _urls(files, ("ws://", "wss://"))
    problems = [f"non-production WebSocket URL {url}" for url in _foreign(ctx, urls)]
    if not urls:
        problems.append("no WebSocket URL in the bundle")
    found = deployed(ctx)
    if found is None or not found["websocket"]["ok"]:
        problems.append("the backend's /ws handshake/echo fails")
    return failed_unless(problems, f"{', '.join(urls)}; backend echo works")


@check("frontend.service_worker")
def service_worker(ctx: HostContext) -> Outcome:
    """FE-04: sw.js is served as JavaScript, not cached long, scoped, and registered."""
    found = deployed(ctx)
    if found is None:
        return _not_deployed()
    sw = found["sw"]
    problems = [f"sw.js: HTTP {sw['status']}"] if sw["status"] != 200 else []
    if "javascript" not in sw["content_type"]:
        problems.append(f"sw.js Content-Type {sw['content_type'] or 'missing'}")
    cache = sw["cache_control"].lower()
    if not any(word in cache for word in ("no-cache", "no-store", "max-age=0")):
        problems.append(f"sw.js Cache-Control '{sw['cache_control']}' lets browsers keep it")
    if not found["index"]["registers_sw"]:
        problems.append("index.html does not register the service worker")
    scope = sw["allowed"] or "/ (script location)"
    return failed_unless(
        problems,
        f"sw.js: {sw['content_type']}, {sw['cache_control']}, "
        f"scope {scope}, registered in index.html",
    )


@check("frontend.bundle_size")
def bundle_size(ctx: HostContext) -> Outcome:
    """PERF-06: gzip size of scripts, styles and HTML (total and largest) within budget."""
    files = bundle_files(ctx)
    if files is None:
        return _not_deployed()
    assets = [f for f in files if f["name"].endswith(TEXT_ASSETS)]
    total = sum(f["gzip_size"] for f in assets)
    largest = max(assets, key=lambda f: f["gzip_size"], default={"name": "-", "gzip_size": 0})
    total_budget = setting(ctx, "app_bundle_budget_kb") * 1024
    asset_budget = setting(ctx, "app_asset_budget_kb") * 1024
    observed = (
        f"{total} bytes gzip in {len(assets)} assets (budget {total_budget}); largest "
        f"{largest['name']} {largest['gzip_size']} bytes (budget {asset_budget})"
    )
    if total > total_budget or largest["gzip_size"] > asset_budget:
        return Outcome.failed(observed, fix="split or trim the bundle, or raise the budget")
    return Outcome.passed(observed)


@check("frontend.image_optimisation")
def image_optimisation(ctx: HostContext) -> Outcome:
    """PERF-07: images are under ``app_image_max_kb``; large bitmaps use WebP/AVIF."""
    files = bundle_files(ctx)
    if files is None:
        return _not_deployed()
    images = [f for f in files if f.get("image")]
    limit = setting(ctx, "app_image_max_kb") * 1024
    problems = [
        f"{f['name']} is {f['size']} bytes (max {limit})" for f in images if f["size"] > limit
    ]
    problems += [
        f"{f['name']} is a {f['size']}-byte {f['image'].upper()}: convert to WebP/AVIF"
        for f in images
        if f["image"] in ("png", "jpeg", "gif") and f["size"] > 50 * 1024
    ]
    summary = ", ".join(f"{f['name']} ({f['image']}, {f['size']} bytes)" for f in images)
    return failed_unless(problems, summary or "no images in the bundle")


#: Key of the browser probe's result in the host context's cache (one run per host).
BROWSER_CACHE_KEY = ("hardening.browser",)


def frontend_url(ctx: HostContext) -> str:
    """Origin the control node's browser loads: ``frontend_url``, else the web tier at the
    host's address (https when ``web_tls`` is on)."""
    return setting(ctx, "frontend_url") or web_base_url(
        ctx.data, ctx.data.get("ssh_hostname") or ctx.name
    )


def _run_browser_probe(ctx: HostContext, cancel: threading.Event | None = None) -> dict:
    from hardening.browser import run_probe

    return run_probe(
        frontend_url(ctx),
        list(setting(ctx, "frontend_pages")),
        list(setting(ctx, "frontend_viewports")),
        min_font_px=setting(ctx, "frontend_min_font_px"),
        cancel=cancel,
    )


class _Background(threading.Thread):
    """The probe running while the audit gathers the host's facts and judges its other items.

    An ``early`` one first checks that the frontend origin accepts a connection, and leaves
    ``found`` None (no browser launched) when it does not.
    """

    def __init__(self, ctx: HostContext, early: bool) -> None:
        super().__init__(name=f"browser-probe-{ctx.name}", daemon=True)
        self.ctx, self.early, self.cancel = ctx, early, threading.Event()
        self.found: dict | None = None

    def run(self) -> None:
        try:
            if not self.early or _origin_answers(self.ctx):
                self.found = _run_browser_probe(self.ctx, self.cancel)
        except Exception as error:  # reported by the FE checks, like a failed probe
            self.found = {"error": f"browser probe failed: {type(error).__name__}: {error}"}


#: Checks that read the browser probe (FE-07, FE-08).
BROWSER_CHECKS = ("frontend.responsive", "frontend.accessibility")


def _origin_answers(ctx: HostContext, timeout: float = 1.0) -> bool:
    """Whether the frontend origin accepts a TCP connection from the control node."""
    url = urlsplit(frontend_url(ctx))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def start_browser_probe(ctx: HostContext, early: bool = False) -> None:
    """Run the browser probe of a host with FE-07/FE-08 in the background, so that Chromium's
    5-20 s overlap the host's fact gathering and other checks; :func:`browser_probe` waits.

    ``early`` (before the host's facts are in): start it if the frontend origin accepts a
    connection (checked in the background too). Otherwise (``AppProbe`` fact at hand): keep
    or start it when the application is deployed, cancel it when not (nothing needs it).
    Hosts named ``@connector/...`` without an ``ssh_hostname`` or ``frontend_url`` have no
    address to try early.

    **Example:**

    .. code:: python

        start_browser_probe(context, early=True)
        context._cache.update(gather(state, host, planned))  # AppProbe among them
        start_browser_probe(context)
        results = evaluate_host(context)  # FE-07/FE-08 join the running probe
    """
    from hardening.catalog import CATALOG

    wanted = any(
        item.check in BROWSER_CHECKS and (not item.groups or ctx.in_group(*item.groups))
        for item in CATALOG
    )
    running = ctx._cache.get(BROWSER_CACHE_KEY)
    if not wanted or (running is not None and not isinstance(running, _Background)):
        return
    if early:
        addressed = not ctx.name.startswith("@") or setting(ctx, "frontend_url")
        go = running is None and bool(addressed or ctx.data.get("ssh_hostname"))
    elif deployed(ctx) is None:
        if running is not None:
            running.cancel.set()
            del ctx._cache[BROWSER_CACHE_KEY]
        return
    else:  # deployed: start unless running, or unless done with a result
        go = running is None or (not running.is_alive() and running.found is None)
    if go:
        ctx._cache[BROWSER_CACHE_KEY] = probe_thread = _Background(ctx, early)
        probe_thread.start()


def browser_probe(ctx: HostContext) -> dict:
    """The headless Chromium probe of this web host, run at most once per host and audit
    (started in the background by :func:`start_browser_probe`, else here)."""
    found = ctx._cache.get(BROWSER_CACHE_KEY)
    if isinstance(found, _Background):
        found.join()
        found = found.found
    if found is None:  # not started, or an early start found the origin closed
        found = _run_browser_probe(ctx)
    ctx._cache[BROWSER_CACHE_KEY] = found
    return found


def _browser_pages(ctx: HostContext) -> tuple[list[dict], Outcome | None]:
    """The probed pages, or an Outcome when there is nothing to judge (no app, no browser)."""
    if deployed(ctx) is None:  # also keeps the audit's fact rehearsal from launching Chromium
        return [], _not_deployed()
    found = browser_probe(ctx)
    if "error" in found:
        fix = SETUP_FIX if found.get("missing") else f"check that {frontend_url(ctx)} answers"
        return [], Outcome.failed(found["error"], fix=fix)
    return found["pages"], None


def _load_problems(pages: list[dict]) -> list[str]:
    return [f"{page['path']}: {page['error']}" for page in pages if page.get("error")]


def axe_findings(pages: list[dict], fail_impacts: list[str]) -> tuple[list[str], list[str]]:
    """axe-core violations as ("rule-id (impact) ×N on /page: selectors") findings,
    split into (failing, listed only)."""
    failing: list[str] = []
    listed: list[str] = []
    for page in pages:
        for violation in page["axe"]:
            finding = (
                f"{violation['id']} ({violation['impact']}) ×{violation['nodes']} on "
                f"{page['path']}: {', '.join(violation['targets'][:MAX_SELECTORS])}"
            )
            (failing if violation["impact"] in fail_impacts else listed).append(finding)
    return failing, listed


@check("frontend.accessibility")
def accessibility(ctx: HostContext) -> Outcome:
    """FE-08: axe-core's WCAG 2.0/2.1 A+AA rules on each of ``frontend_pages`` in headless
    Chromium; violations of an impact in ``frontend_fail_impacts`` fail the item."""
    pages, outcome = _browser_pages(ctx)
    if outcome:
        return outcome
    failing, listed = axe_findings(pages, list(setting(ctx, "frontend_fail_impacts")))
    paths = ", ".join(page["path"] for page in pages)
    checked = f"axe-core WCAG 2.1 A+AA on {paths}: {len(failing) + len(listed)} violation(s)"
    return Outcome.judge(
        _load_problems(pages) + failing,
        [checked, *(f"listed only: {finding}" for finding in listed)],
        fix="fix the markup (alt text, labels, lang, contrast ...), redeploy the bundle",
    )


def layout_findings(pages: list[dict], min_font_px: int) -> list[str]:
    """Responsive-design problems of each page at each viewport."""
    problems: list[str] = []
    for page in pages:
        for layout in page["layouts"]:
            where = f"{page['path']} @{layout['viewport']}"
            if layout["meta_viewport"] is None:
                problems.append(f"{where}: no <meta name=viewport>")
            if layout["scroll_width"] > layout["inner_width"] + 1:
                problems.append(
                    f"{where}: horizontal overflow (scrollWidth {layout['scroll_width']} > "
                    f"{layout['inner_width']})"
                )
            if layout["wide"]:
                problems.append(f"{where}: wider than the viewport: {', '.join(layout['wide'])}")
            if layout["small_text"]:
                problems.append(
                    f"{where}: text below {min_font_px}px: {', '.join(layout['small_text'])}"
                )
    return problems


@check("frontend.responsive")
def responsive(ctx: HostContext) -> Outcome:
    """FE-07: each of ``frontend_pages`` at each of ``frontend_viewports`` has a meta
    viewport, no horizontal overflow, no visible element wider than the viewport, and no
    text below ``frontend_min_font_px``."""
    pages, outcome = _browser_pages(ctx)
    if outcome:
        return outcome
    min_font = setting(ctx, "frontend_min_font_px")
    viewports = ", ".join(setting(ctx, "frontend_viewports"))
    paths = ", ".join(page["path"] for page in pages)
    return Outcome.judge(
        _load_problems(pages) + layout_findings(pages, min_font),
        [f"{paths} at {viewports} checked: meta viewport, overflow, text >= {min_font}px"],
        fix="use fluid widths (max-width: 100%), a meta viewport and readable font sizes",
    )
