"""Application checks (APP-01..08) from bounded probes run on the host (``AppProbe``).

Every check first needs the application: without it the item fails with
"application not deployed (run deploys/app.py)". Secret values are never evidence: only
variable names, shapes and verdicts are.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from hardening.checks import HostContext, check
from hardening.facts.app import AppProbe
from hardening.facts.envfile import EnvFileSummary
from hardening.results import Outcome
from hardening.settings import default

FIX = "run deploys/app.py"
NOT_DEPLOYED = "application not deployed (run deploys/app.py)"
MIN_SECRET_ALNUM = 32


def setting(ctx: HostContext, key: str):
    """An inventory setting of this host, or its documented default."""
    return ctx.setting(key, default(key))


def probe(ctx: HostContext) -> dict:
    """The ``AppProbe`` fact with this host's settings (gathered once per host)."""
    return ctx.fact(
        AppProbe,
        base_url=setting(ctx, "app_base_url"),
        service=setting(ctx, "app_service"),
        static_dir=setting(ctx, "app_static_dir"),
        offline_route=setting(ctx, "app_offline_route"),
        error_route=setting(ctx, "app_error_route"),
        upload_bytes=65536,
        load_clients=setting(ctx, "app_load_clients"),
        load_requests=setting(ctx, "app_load_requests"),
    )


def deployed(ctx: HostContext) -> dict | None:
    """The probe when the application answers its health endpoint, else None."""
    found = probe(ctx)
    return found if found.get("deployed") else None


def production_hosts(ctx: HostContext) -> list[str]:
    """Host names production URLs may point at (``app_production_hosts`` or the public URL's)."""
    hosts = list(setting(ctx, "app_production_hosts"))
    if not hosts:
        hosts = [urlsplit(setting(ctx, "app_public_url") or f"https://{ctx.name}").hostname or ""]
    return hosts


def failed_unless(problems: list[str], good: str) -> Outcome:
    """``failed`` listing ``problems`` with the app fix, or ``passed`` with ``good``."""
    if problems:
        return Outcome.failed("; ".join(problems), fix=FIX)
    return Outcome.passed(good)


def _env_problems(name: str, rules: list[str], info: dict | None, hosts: list[str]) -> list[str]:
    if info is None or not info["length"]:
        return [f"{name} is not set"]
    problems = [f"{name} is a placeholder"] if info["placeholder"] else []
    url = info.get("url")
    if ("url" in rules or "production_url" in rules) and not (url and url["host"]):
        problems.append(f"{name} is not a URL")
    elif "production_url" in rules and url["host"] not in hosts:
        problems.append(f"{name} points at {url['host']}, not a production host")
    if "secret" in rules and info["alnum_count"] < MIN_SECRET_ALNUM:
        problems.append(f"{name} has {info['alnum_count']} alphanumeric characters (needs 32+)")
    return problems


@check("app.environment")
def environment(ctx: HostContext) -> Outcome:
    """APP-01: every required variable is set in the service's environment file and valid."""
    found = probe(ctx)
    files = found.get("service", {}).get("env_files") or []
    path = setting(ctx, "app_env_file") or (files[0] if files else "")
    if not found.get("deployed") and not path:
        return Outcome.failed(NOT_DEPLOYED, fix=FIX)
    summary = ctx.fact(EnvFileSummary, path=path) if path else None
    if summary is None:
        return Outcome.failed(f"no environment file ({path or 'no EnvironmentFile='})", fix=FIX)
    rules = setting(ctx, "app_required_env")
    hosts = production_hosts(ctx)
    problems = [
        problem
        for name, wanted in rules.items()
        for problem in _env_problems(name, list(wanted), summary.get(name), hosts)
    ]
    return failed_unless(problems, f"{path}: {', '.join(rules)} set and valid")


@check("app.database")
def database(ctx: HostContext) -> Outcome:
    """APP-02: the DSN goes through pgBouncer and the health endpoint reaches the database."""
    found = deployed(ctx)
    if found is None:
        return Outcome.failed(NOT_DEPLOYED, fix=FIX)
    files = found["service"]["env_files"]
    path = setting(ctx, "app_env_file") or (files[0] if files else "")
    var = setting(ctx, "app_database_url_var")
    url = ((ctx.fact(EnvFileSummary, path=path) or {}).get(var) or {}).get("url") if path else None
    port = setting(ctx, "pgbouncer_port")
    problems = []
    if not url:
        problems.append(f"{var} is not a URL in {path or 'the environment'}")
    elif url["port"] != port:
        problems.append(f"{var} goes to {url['host']}:{url['port']}, not pgBouncer (:{port})")
    db = found["healthz"]["body"].get("db")
    if db != "ok":
        problems.append(f"/healthz reports db={db}")
    where = f"{url['host']}:{url['port']}{url['path']}" if url else "?"
    return failed_unless(problems, f"{var} -> pgBouncer {where}; /healthz db=ok")


@check("app.websocket")
def websocket(ctx: HostContext) -> Outcome:
    """APP-03: WebSocket handshake (101, correct accept key) and an echo round trip."""
    found = deployed(ctx)
    if found is None:
        return Outcome.failed(NOT_DEPLOYED, fix=FIX)
    ws = found["websocket"]
    if ws["ok"]:
        return Outcome.passed(f"101 Switching Protocols, echo in {ws['round_trip_ms']} ms")
    return Outcome.failed(
        f"handshake status {ws.get('status')}, accept key ok={ws.get('accept_ok')}, "
        f"echo={ws.get('echo')} {ws.get('error', '')}".strip(),
        fix="check the /ws route and the proxy's Upgrade/Connection headers",
    )


@check("app.offline_mode")
def offline_mode(ctx: HostContext) -> Outcome:
    """APP-04: the service worker precaches the declared offline route, which is served."""
    found = deployed(ctx)
    if found is None:
        return Outcome.failed(NOT_DEPLOYED, fix=FIX)
    sw, route = found["sw"], setting(ctx, "app_offline_route")
    problems = [f"service worker: HTTP {sw['status']}"] if sw["status"] != 200 else []
    if not sw["offline_precached"]:
        problems.append(f"{route} is not in the service worker's precache list")
    if not sw["fetch_handler"]:
        problems.append("the service worker has no fetch handler (no offline fallback)")
    if sw["offline_status"] != 200:
        problems.append(f"{route}: HTTP {sw['offline_status']}")
    return failed_unless(problems, f"{route} precached and served; fetch falls back to cache")


def _size(text: str | None) -> int | None:
    if not text:
        return None
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    text = text.lower()
    if text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text)


@check("app.file_upload")
def file_upload(ctx: HostContext) -> Outcome:
    """APP-05: an upload round trip keeps size and SHA-256; nginx's limit agrees with the app's."""
    found = deployed(ctx)
    if found is None:
        return Outcome.failed(NOT_DEPLOYED, fix=FIX)
    upload, nginx = found["upload"], found["nginx"]
    problems = []
    if upload["status"] != 200 or upload["size"] != upload["sent"] or not upload["sha256_ok"]:
        problems.append(
            f"upload of {upload['sent']} bytes: HTTP {upload['status']}, size {upload['size']}, "
            f"sha256 ok={upload['sha256_ok']}"
        )
    nginx_limit = _size(nginx.get("client_max_body_size"))
    if nginx["proxies_app"] and nginx_limit is not None and nginx_limit != upload["max_bytes"]:
        problems.append(
            f"nginx client_max_body_size {nginx['client_max_body_size']} != app limit "
            f"{upload['max_bytes']} bytes"
        )
    limit = f"app limit {upload['max_bytes']} bytes"
    return failed_unless(problems, f"{upload['sent']} bytes round trip, sha256 matches; {limit}")


@check("app.error_handling")
def error_handling(ctx: HostContext) -> Outcome:
    """APP-06: the declared failing route answers 5xx with a JSON error body, no traceback."""
    found = deployed(ctx)
    if found is None:
        return Outcome.failed(NOT_DEPLOYED, fix=FIX)
    error, route = found["error_route"], setting(ctx, "app_error_route")
    problems = []
    if not 500 <= error["status"] < 600:
        problems.append(f"{route} answers HTTP {error['status']} (declared failing: want 5xx)")
    if not error["has_error"]:
        problems.append(f"{route} body is not JSON with an 'error' key")
    if error["traceback"]:
        problems.append(f"{route} leaks a stack trace")
    return failed_unless(problems, f"{route}: HTTP {error['status']}, JSON error body, no trace")


@check("app.session_cookies")
def session_cookies(ctx: HostContext) -> Outcome:
    """APP-07: the session cookie is Secure, HttpOnly, SameSite=Strict/Lax and expires."""
    found = deployed(ctx)
    if found is None:
        return Outcome.failed(NOT_DEPLOYED, fix=FIX)
    cookies = found["login"]["cookies"]
    if not cookies:
        return Outcome.failed(f"POST /login set no cookie (HTTP {found['login']['status']})", FIX)
    problems = []
    for name, cookie in cookies.items():
        missing = [flag for flag in ("secure", "httponly") if flag not in cookie["flags"]]
        if missing:
            problems.append(f"{name}: missing {', '.join(missing)}")
        if cookie["samesite"].lower() not in ("strict", "lax"):
            problems.append(f"{name}: SameSite={cookie['samesite'] or 'unset'}")
        if not cookie["max_age"] and "expires" not in cookie["flags"]:
            problems.append(f"{name}: no expiry (Max-Age/Expires)")
    summary = ", ".join(
        f"{name}: Secure HttpOnly SameSite={c['samesite']} Max-Age={c['max_age']}"
        for name, c in cookies.items()
    )
    return failed_unless(problems, summary)


def load_outcome(ctx: HostContext, what: str) -> Outcome:
    """Judge the bounded load probe: error rate against ``app_max_error_rate_percent``."""
    found = deployed(ctx)
    if found is None:
        return Outcome.failed(NOT_DEPLOYED, fix=FIX)
    load = found["load"]
    rate = 100 * load["errors"] / max(load["requests"], 1)
    limit = setting(ctx, "app_max_error_rate_percent")
    observed = (
        f"{what}: {load['clients']} clients, {load['requests']} requests in {load['seconds']} s, "
        f"error rate {rate:.1f}% (max {limit}%), p50 {load['p50_ms']} ms, p95 {load['p95_ms']} ms"
    )
    if rate > limit:
        return Outcome.failed(observed, fix="find the failing requests in the app's logs")
    return Outcome.passed(observed)


@check("app.concurrency")
def concurrency(ctx: HostContext) -> Outcome:
    """APP-08: N concurrent clients; error rate within the inventory threshold."""
    return load_outcome(ctx, "concurrent users")
