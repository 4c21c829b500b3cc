"""nginx TLS (SEC-03): the rendered site with and without ``tls``."""

from __future__ import annotations

import re

from hardening.operations import nginx
from hardening.settings import default

PAIR = (nginx.CERT, nginx.KEY)


def _servers(text: str) -> list[str]:
    """The top-level ``server { ... }`` blocks of a rendered site."""
    return re.findall(r"^server \{\n.*?^\}", text, flags=re.S | re.M)


def test_tls_is_on_by_default_and_without_it_port_80_serves_the_site() -> None:
    assert default("web_tls") is True
    text = nginx.render_site()
    [server] = _servers(text)
    assert "listen 80 default_server;" in server
    assert "location @app" in server
    assert "ssl" not in text and "Strict-Transport-Security" not in text


def test_port_80_only_redirects_and_443_has_the_same_locations() -> None:
    plain, secure = _servers(nginx.render_site(tls=PAIR))
    assert "return 301 https://$host$request_uri;" in plain
    assert "location @app" not in plain and "proxy_pass" not in plain
    assert "listen 443 ssl http2 default_server;" in secure
    assert nginx.render_site().split("server_tokens off;", 1)[1].count("location") == (
        secure.split("server_tokens off;", 1)[1].count("location")
    )


def test_the_https_server_uses_the_mozilla_intermediate_profile() -> None:
    secure = _servers(nginx.render_site(tls=PAIR))[1]
    for line in (
        f"ssl_certificate {nginx.CERT};",
        f"ssl_certificate_key {nginx.KEY};",
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "ssl_prefer_server_ciphers off;",
        "ssl_session_tickets off;",
        "ssl_session_cache shared:SSL:10m;",
        "ssl_session_timeout 1d;",
        "ssl_stapling off;",
    ):
        assert line in secure
    ciphers = re.search(r"ssl_ciphers (\S+);", secure).group(1).split(":")
    assert ciphers and all(c.startswith("ECDHE-") for c in ciphers)
    assert all("GCM" in c or "CHACHA20-POLY1305" in c for c in ciphers)


def test_hsts_on_every_location_of_the_https_server_with_options_from_settings() -> None:
    plain, secure = _servers(nginx.render_site(tls=PAIR))
    assert "Strict-Transport-Security" not in plain
    assert secure.count('Strict-Transport-Security "max-age=63072000" always;') == (
        secure.count("X-Content-Type-Options")
    )
    text = nginx.render_site(tls=PAIR, hsts_include_subdomains=True, hsts_preload=True)
    assert 'Strict-Transport-Security "max-age=63072000; includeSubDomains; preload"' in text


def test_hsts_value() -> None:
    assert nginx.hsts_value() == "max-age=63072000"
    assert nginx.hsts_value(include_subdomains=True) == "max-age=63072000; includeSubDomains"


def test_app_metrics_are_refused_through_nginx_on_every_server() -> None:
    for text in (nginx.render_site(), nginx.render_site(tls=PAIR)):
        site = _servers(text)[-1]
        location = site.split("location = /metrics {", 1)[1].split("}", 1)[0]
        assert "allow 127.0.0.1;\n        allow ::1;\n        deny all;" in location
