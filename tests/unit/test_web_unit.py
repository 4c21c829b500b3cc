"""Web tier: fact parsers on captured output, checks on canned facts, operations on a
fake host (the integration test judges real hosts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyinfra.api import FileUploadCommand

from hardening.checks import HostContext, registry
from hardening.facts.haproxy import HaproxyServers, parse_show_stat
from hardening.facts.nginx import NginxConfig, WebProbe, parse_nginx_config, parse_probe
from hardening.operations import haproxy, nginx
from hardening.operations._render import sha1
from hardening.results import Status
from hardening.web_policy import cors_problem, flood_size
from tests.unit.test_monitoring_operations import FakeHost, commands, text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CHECKS = registry()
ORIGIN = "https://app.example.net"
WEB_CHECKS = (
    "web.gzip",
    "web.cache_headers",
    "caching.strategies",
    "web.cors",
    "web.rate_limits",
    "web.waf",
    "web.load_balancer",
)


def lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text().splitlines()


HARDENED = {
    NginxConfig: NginxConfig().process(lines("web_nginx_T_hardened.txt")),
    WebProbe: WebProbe().process(lines("web_probe_hardened.txt")),
    HaproxyServers: HaproxyServers().process(["#installed", *lines("web_haproxy_show_stat.txt")]),
}
#: Debian's default nginx: gzip on for text/html only, the default site, no CORS, no WAF.
FRESH_CONFIG = NginxConfig().process(
    [
        "#valid",
        "# configuration file /etc/nginx/nginx.conf:",
        "http {",
        "    gzip on;",
        "    include /etc/nginx/sites-enabled/*;",
        "}",
        "# configuration file /etc/nginx/sites-enabled/default:",
        "server { listen 80 default_server; root /var/www/html; location / { try_files $uri =404; } }",
    ]
)
FRESH = {
    NginxConfig: FRESH_CONFIG,
    WebProbe: parse_probe(
        [
            "#probe html /",
            "HTTP/1.1 200 OK",
            "Content-Type: text/html",
            *[f"#probe {key} /" for key in ("normal", "sqli", "xss", "traversal")],
            "HTTP/1.1 200 OK",
            "#flood 40",
            "#code 40 404",
        ]
    ),
    HaproxyServers: HaproxyServers().process(["#installed", lines("web_haproxy_show_stat.txt")[0]]),
}


def context(facts: dict, **data) -> HostContext:
    data.setdefault("web_cors_origins", [ORIGIN])
    data.setdefault("web_app_servers", ["127.0.0.1:8000", "127.0.0.1:8001"])
    return HostContext("tb1", ("web",), data, lambda fact_class, **kwargs: facts[fact_class])


def test_nginx_T_is_parsed_into_directives_with_their_context() -> None:
    config = HARDENED[NginxConfig]
    assert config["valid"] and "/etc/nginx/sites-enabled/hardening" in config["files"]
    limit = [d for d in config["directives"] if d["name"] == "limit_req"]
    assert limit == [
        {
            "file": "/etc/nginx/sites-enabled/hardening",
            "context": ["server", "location /api/"],
            "name": "limit_req",
            "args": ["zone=hardening_api", "burst=20", "nodelay"],
        }
    ]
    rules = config["modsecurity"]["/etc/nginx/modsecurity/hardening.conf"]
    assert rules == {"engine": "On", "paranoia_level": 1, "crs": True}


def test_parser_keeps_quoted_semicolons_and_drops_comments() -> None:
    parsed = parse_nginx_config('server { # a comment; x\n add_header X "a; b" always; }')
    assert parsed == [
        {"file": "", "context": ["server"], "name": "add_header", "args": ["X", "a; b", "always"]}
    ]


def test_absent_nginx_and_haproxy_are_the_defaults() -> None:
    assert NginxConfig().process(["#absent"]) == NginxConfig.default()
    assert HaproxyServers().process(["#absent"]) == HaproxyServers.default()
    assert HaproxyServers().process(["#installed", "#down"])["running"] is False


def test_probe_output_is_summarised() -> None:
    probe = HARDENED[WebProbe]
    assert probe["waf"] == {"normal": 200, "sqli": 403, "xss": 403, "traversal": 403}
    assert probe["flood"]["sent"] == 40 and probe["flood"]["429"] > 0
    assert probe["cors_allowed"]["allow_origin"] == ORIGIN
    assert probe["cors_foreign"]["allow_origin"] == ""
    assert probe["asset"]["content_encoding"] == "gzip"
    assert WebProbe.default()["reachable"] is False


def test_show_stat_lists_servers_with_their_checks() -> None:
    servers = parse_show_stat(lines("web_haproxy_show_stat.txt"))
    assert [(s["address"], s["status"], s["check"]) for s in servers] == [
        ("127.0.0.1:8000", "UP", "L7OK"),
        ("127.0.0.1:8001", "DOWN", "L4CON"),
    ]


@pytest.mark.parametrize("name", WEB_CHECKS)
def test_hardened_host_passes(name: str) -> None:
    outcome = CHECKS[name](context(HARDENED))
    assert outcome.status is Status.PASS, outcome.evidence


@pytest.mark.parametrize("name", WEB_CHECKS)
def test_fresh_host_fails_with_a_fix(name: str) -> None:
    outcome = CHECKS[name](context(FRESH))
    assert outcome.status is Status.FAIL, outcome.evidence
    assert outcome.fix


def test_load_balancer_reports_a_down_instance() -> None:
    evidence = CHECKS["web.load_balancer"](context(HARDENED)).evidence
    assert "127.0.0.1:8001 DOWN (L4CON)" in evidence and "127.0.0.1:8000 UP (L7OK 200)" in evidence
    missing = CHECKS["web.load_balancer"](context(HARDENED, web_app_servers=["10.0.0.9:8000"]))
    assert missing.status is Status.FAIL and "10.0.0.9:8000 is not balanced" in missing.evidence


def test_cors_wildcard_with_credentials_is_refused_everywhere() -> None:
    assert "'*' with web_cors_allow_credentials" in cors_problem(["*"], True)
    assert cors_problem(["*"], False) is None
    assert "no path" in cors_problem(["https://a.example/app/"], False)
    with pytest.raises(nginx.CorsPolicyError):
        nginx.render_site(origins=["*"], credentials=True)
    outcome = CHECKS["web.cors"](
        context(HARDENED, web_cors_origins=["*"], web_cors_allow_credentials=True)
    )
    assert outcome.status is Status.FAIL


def test_site_renders_the_inventory_knobs() -> None:
    site = nginx.render_site(origins=[ORIGIN], rate=7, burst=3, conn_limit=4, lb_port=8181)
    assert "rate=7r/s" in site and "burst=3 nodelay" in site
    assert "limit_conn hardening_api_conn 4;" in site and "server 127.0.0.1:8181;" in site
    assert f'"{ORIGIN}" $http_origin;' in site and 'default "";' in site
    assert "Access-Control-Allow-Credentials" not in site
    assert "    listen 443" not in site  # TLS belongs to another component
    assert 'default "*";' in nginx.render_site(origins=["*"])
    assert "tx.paranoia_level=2" in nginx.render_modsecurity(2)
    with pytest.raises(ValueError):
        nginx.render_modsecurity(5)
    with pytest.raises(ValueError):
        haproxy.render_config([])


def test_flood_exceeds_rate_and_burst() -> None:
    assert flood_size({}) == 40
    assert flood_size({"web_rate_limit_burst": 5, "web_rate_limit_per_second": 2}) == 17


def test_site_is_tested_with_nginx_before_it_replaces_the_old_and_nginx_reloads() -> None:
    done = [text(c) for c in commands(nginx.site, FakeHost(), content="server {}\n")]
    staged = "/etc/nginx/sites-available/.hardening-staging/hardening"
    assert done[1] == f"upload {staged}"
    assert "nginx -t -q -c" in done[3] and staged in done[3] and "rejected" in done[3]
    assert done[4] == f"mv -f {staged} {nginx.SITE_PATH} && systemctl reload nginx"
    assert done[5].startswith(f"ln -sfn {nginx.SITE_PATH} {nginx.SITE_ENABLED}")
    assert "restart" not in " ".join(done)


class SitesHost(FakeHost):
    """Our site linked in sites-enabled, Debian's default site removed."""

    def get_fact(self, fact_class: type, **kwargs: object) -> object:
        if fact_class.__name__ == "Link":
            return (
                {"link_target": nginx.SITE_PATH} if kwargs["path"] == nginx.SITE_ENABLED else None
            )
        return super().get_fact(fact_class, **kwargs)


def test_current_enabled_site_is_a_noop() -> None:
    content = nginx.render_site()
    fake = SitesHost(Sha1File=sha1(content))
    assert commands(nginx.site, fake, content=content) == []
    assert len(fake.noops) == 2


def test_haproxy_config_is_checked_before_the_swap() -> None:
    generated = commands(haproxy.config, FakeHost(), content="global\n")
    assert isinstance(generated[1], FileUploadCommand)
    shown = [text(c) for c in generated]
    assert shown[3].startswith("haproxy -c -q -f /etc/haproxy/.hardening-staging/haproxy.cfg")
    assert shown[4].endswith("systemctl reload haproxy")
