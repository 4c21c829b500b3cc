"""Web tier checks: SEC-05 CORS, SEC-06 rate limits, FE-05 gzip, FE-06 cache headers,
PERF-08 caching, INF-04 WAF, INF-01 load balancer.

Each item is judged twice: from nginx's effective configuration (``nginx -T``) and from
what curl on the host really gets back (``WebProbe``), so a directive that is present
but shadowed, or behaviour that comes from elsewhere, is not mistaken for the item.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from functools import partial

from hardening.checks import HostContext, check
from hardening.checks.redis import redis_caching
from hardening.facts.haproxy import HaproxyServers
from hardening.facts.nginx import FOREIGN_ORIGIN, NginxConfig, WebProbe
from hardening.results import Outcome, Status
from hardening.web_policy import cors_problem, flood_size, web_base_url

FIX = "run deploys/web.py (nginx site, ModSecurity CRS, haproxy)"
TEXT_TYPES = ("text/css", "application/javascript", "application/json")
YEAR = 31536000
WebJudge = Callable[[HostContext, dict, dict], Outcome]


def _config(ctx: HostContext) -> dict:
    return ctx.fact(NginxConfig)


def _probe(ctx: HostContext) -> dict:
    origins = [o for o in ctx.setting("web_cors_origins", []) if o != "*"]
    return ctx.fact(
        WebProbe,
        origin=origins[0] if origins else "",
        flood=flood_size(ctx.data),
        static_root=ctx.setting("web_static_root", "/srv/hardening-demo-app/static"),
        base=web_base_url(ctx.data),
    )


def _args(config: dict, name: str, where: str = "") -> list[list[str]]:
    """Arguments of every ``name`` directive whose context mentions ``where``."""
    return [
        d["args"]
        for d in config["directives"]
        if d["name"] == name and (not where or any(where in c for c in d["context"]))
    ]


def _headers(config: dict, header: str) -> list[str]:
    """Values of ``add_header HEADER ...`` directives."""
    return [a[1] for a in _args(config, "add_header") if len(a) > 1 and a[0].lower() == header]


#: fail with the problems first, else pass; evidence either way (``Outcome.judge``)
_judge = partial(Outcome.judge, fix=FIX)


def _unavailable(config: dict) -> Outcome | None:
    if not config["installed"]:
        return Outcome.failed("nginx is not installed", fix=FIX)
    if not config["valid"]:
        return Outcome.failed("nginx -T fails: the configuration is invalid", fix=FIX)
    return None


def _web_check(name: str) -> Callable[[WebJudge], WebJudge]:
    """Register ``judge(ctx, config, probe)`` as check ``name``: nginx's configuration and
    the probe are gathered first (always both, so the audit batches them); a host without
    a working nginx fails before ``judge`` runs."""

    def register(judge: WebJudge) -> WebJudge:
        @functools.wraps(judge)
        def run(ctx: HostContext) -> Outcome:
            return _run(ctx, judge)

        check(name)(run)
        return judge

    return register


def _run(ctx: HostContext, judge: WebJudge) -> Outcome:
    config, probe = _config(ctx), _probe(ctx)
    return _unavailable(config) or judge(ctx, config, probe)


def _max_age(cache_control: str) -> int:
    match = re.search(r"max-age=(\d+)", cache_control)
    return int(match.group(1)) if match else 0


@_web_check("web.gzip")
def gzip(ctx: HostContext, config: dict, probe: dict) -> Outcome:
    """gzip on for text types with a minimum length, and a text asset really served gzipped."""
    types = {t for args in _args(config, "gzip_types") for t in args}
    problems = [f"gzip_types lacks {t}" for t in TEXT_TYPES if t not in types]
    if ["on"] not in _args(config, "gzip"):
        problems.insert(0, "gzip is not on")
    levels = _args(config, "gzip_comp_level")
    lengths = _args(config, "gzip_min_length")
    evidence = [
        f"gzip_comp_level {levels[-1][0] if levels else 'default 1'}",
        f"gzip_min_length {lengths[-1][0] if lengths else 'default 20'}",
    ]
    asset = probe["asset"]
    if asset["status"] == 200:
        encoding = asset["content_encoding"] or "none"
        evidence.append(
            f"GET {asset['path']} with Accept-Encoding gzip: Content-Encoding {encoding}"
        )
        if encoding != "gzip":
            problems.append(f"{asset['path']} is not served gzipped")
    else:
        evidence.append("no fingerprinted .js/.css asset to probe")
    return _judge(problems, evidence)


@_web_check("web.cache_headers")
def cache_headers(ctx: HostContext, config: dict, probe: dict) -> Outcome:
    """Fingerprinted assets: a year, immutable; HTML and API: no-store."""
    problems, evidence = [], []
    asset = probe["asset"]
    if asset["status"] == 200:
        value = asset["cache_control"] or "none"
        evidence.append(f"{asset['path']}: Cache-Control {value}")
        if "immutable" not in value or _max_age(value) < YEAR:
            problems.append("fingerprinted asset is not cached a year as immutable")
    for key, label in (("html", "HTML /"), ("api", "API /api/items")):
        value = probe[key]["cache_control"] or "none"
        evidence.append(f"{label} ({probe[key]['status']}): Cache-Control {value}")
        if "no-store" not in value:
            problems.append(f"{label} may be stored by browsers")
    return _judge(problems, evidence)


@check("caching.strategies")
def caching_strategies(ctx: HostContext) -> Outcome:
    """PERF-08 on both tiers that cache: nginx's proxy cache and static cache headers on web
    hosts, Redis' memory limit and eviction policy on cache hosts."""
    parts: list[tuple[str, Outcome]] = []
    if ctx.in_group("web"):
        parts.append(("nginx", _run(ctx, caching)))
    if ctx.in_group("cache"):
        parts.append(("Redis", redis_caching(ctx)))
    if not parts:
        return Outcome.not_applicable("neither a web nor a cache host")
    evidence = "; ".join(f"{tier}: {outcome.evidence}" for tier, outcome in parts)
    failed = [outcome for _, outcome in parts if outcome.status is not Status.PASS]
    if failed:
        return Outcome(failed[0].status, evidence, " and ".join(o.fix for o in failed if o.fix))
    return Outcome.passed(evidence)


def caching(ctx: HostContext, config: dict, probe: dict) -> Outcome:
    """A proxy cache for API GETs, consulted on a real request, and long-lived static assets."""
    problems = []
    paths = _args(config, "proxy_cache_path")
    used = sorted({a[0] for a in _args(config, "proxy_cache") if a and a[0] != "off"})
    if not paths or not used:
        problems.append("no proxy_cache for API answers")
    status = probe["api_again"]["cache_status"]
    if not status:
        problems.append("second GET /api/items shows no X-Cache-Status: the cache is not in path")
    evidence = [
        f"proxy_cache {', '.join(used) or 'none'}",
        f"second GET /api/items: X-Cache-Status {status or 'absent'}",
        f"static: {_max_age(probe['asset']['cache_control'])} s max-age on fingerprinted assets",
    ]
    return _judge(problems, evidence)


@_web_check("web.cors")
def cors(ctx: HostContext, config: dict, probe: dict) -> Outcome:
    """Only the inventory's origins get Access-Control-Allow-Origin; preflight answered."""
    origins = list(ctx.setting("web_cors_origins", []))
    credentials = bool(ctx.setting("web_cors_allow_credentials", False))
    problems = [p for p in [cors_problem(origins, credentials)] if p]
    if not _headers(config, "access-control-allow-origin"):
        problems.append("nginx sets no Access-Control-Allow-Origin from an allowlist")
    foreign = probe["cors_foreign"]["allow_origin"]
    if foreign and "*" not in origins:
        problems.append(f"preflight from {FOREIGN_ORIGIN} allowed ({foreign})")
    evidence = [
        f"allowlist: {', '.join(origins) or 'none'}",
        f"preflight from {FOREIGN_ORIGIN}: {probe['cors_foreign']['status']}, "
        f"Access-Control-Allow-Origin {foreign or 'absent'}",
    ]
    declared = [o for o in origins if o != "*"]
    if declared:
        allowed = probe["cors_allowed"]
        evidence.append(
            f"preflight from {declared[0]}: {allowed['status']}, "
            f"Access-Control-Allow-Origin {allowed['allow_origin'] or 'absent'}"
        )
        if allowed["allow_origin"] != declared[0] or not 200 <= allowed["status"] < 300:
            problems.append(f"preflight from the declared origin {declared[0]} is not allowed")
    return _judge(problems, evidence)


@_web_check("web.rate_limits")
def rate_limits(ctx: HostContext, config: dict, probe: dict) -> Outcome:
    """limit_req/limit_conn on /api/ answering 429, and a burst of requests really limited."""
    problems = []
    zones = [a[-1] for a in _args(config, "limit_req_zone") if a]
    if not _args(config, "limit_req", "/api"):
        problems.append("no limit_req on /api/")
    if not _args(config, "limit_conn", "/api"):
        problems.append("no limit_conn on /api/")
    if ["429"] not in _args(config, "limit_req_status", "/api"):
        problems.append("rejected requests do not get 429")
    flood = probe["flood"]
    counts = ", ".join(f"{n}x{code}" for code, n in sorted(flood.items()) if code != "sent" and n)
    if not flood.get("429"):
        problems.append(f"{flood['sent']} quick requests to /api/items: none got 429")
    evidence = [
        f"limit_req_zone {', '.join(zones) or 'none'}",
        f"{flood['sent']} quick requests to /api/items: {counts or 'no answer'}",
    ]
    return _judge(problems, evidence)


@_web_check("web.waf")
def waf(ctx: HostContext, config: dict, probe: dict) -> Outcome:
    """ModSecurity with the OWASP CRS blocking: attacks get 403, a normal request does not."""
    problems = []
    if ["on"] not in _args(config, "modsecurity"):
        problems.append("modsecurity is not on")
    rules = config["modsecurity"]
    engines = {path: r for path, r in rules.items() if r["engine"].lower() == "on" and r["crs"]}
    if not engines:
        problems.append("no ModSecurity rules file with SecRuleEngine On and the OWASP CRS")
    levels = sorted({r["paranoia_level"] or 1 for r in engines.values()})
    codes = probe["waf"]
    blocked = [k for k, code in codes.items() if k != "normal" and code == 403]
    missed = [k for k, code in codes.items() if k != "normal" and code != 403]
    if missed:
        problems.append("not blocked: " + ", ".join(f"{k} ({codes[k]})" for k in missed))
    if codes.get("normal") in (0, 403):
        problems.append(f"a normal request gets {codes.get('normal')}")
    evidence = [
        f"CRS paranoia level {', '.join(map(str, levels)) or 'none'}",
        f"blocked with 403: {', '.join(blocked) or 'none'}",
        f"normal request: {codes.get('normal')}",
    ]
    return _judge(problems, evidence)


@check("web.load_balancer")
def load_balancer(ctx: HostContext) -> Outcome:
    """haproxy balances the inventory's app servers with active HTTP health checks."""
    state = ctx.fact(HaproxyServers)
    if not state["installed"]:
        return Outcome.failed("haproxy is not installed", fix=FIX)
    if not state["running"]:
        return Outcome.failed("haproxy's stats socket does not answer", fix=FIX)
    servers = state["servers"]
    wanted = set(ctx.setting("web_app_servers", ["127.0.0.1:8000"]))
    addresses = {s["address"] for s in servers}
    problems = [f"{a} is not balanced" for a in sorted(wanted - addresses)]
    unchecked = [s["server"] for s in servers if not s["check"]]
    if unchecked:
        problems.append("no active health check on " + ", ".join(unchecked))
    if servers and not any(s["check"].startswith("L7") for s in servers):
        problems.append("no server passes an HTTP (layer 7) health check")
    if not any(s["status"] == "UP" for s in servers):
        problems.append("no server is UP")
    evidence = [
        f"{s['backend']}/{s['server']} {s['address']} {s['status']} "
        f"({s['check'] or 'no check'} {s['check_code']})".replace(" )", ")")
        for s in servers
    ] or ["no backend servers"]
    return _judge(problems, evidence)
