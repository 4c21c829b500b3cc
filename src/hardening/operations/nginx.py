"""nginx web tier: the hardening site (SEC-05, SEC-06, FE-05, FE-06, PERF-08) and the
ModSecurity WAF with the OWASP CRS (INF-04).

Each file is staged beside its destination and tested with ``nginx -t`` against a copy
of the main configuration that includes the *staged* file; only a file nginx accepts is
moved into place, then nginx is *reloaded* (never restarted). A rejected file is removed,
nginx's error is shown and the running nginx keeps its configuration.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.facts.files import Link
from pyinfra.operations import apt, systemd

from hardening.firewall_policy import split_families
from hardening.operations._render import render
from hardening.operations._swap import validated_swap
from hardening.web_policy import cors_problem

SITE_PATH = "/etc/nginx/sites-available/hardening"
SITE_ENABLED = "/etc/nginx/sites-enabled/hardening"
DEFAULT_ENABLED = "/etc/nginx/sites-enabled/default"
MODSECURITY_RULES = "/etc/nginx/modsecurity/hardening.conf"
#: Test configuration written beside the staged file ($0), removed after the test.
TEST_CONF = "$(dirname $0)/nginx-test.conf"
RELOAD = "systemctl reload nginx"
#: SEC-03: the nginx server certificate (issued by the internal CA, key 0600 root).
CERT, KEY = "/etc/ssl/hardening/nginx.crt", "/etc/ssl/hardening/nginx.key"
#: HSTS lifetime, two years (Mozilla intermediate).
HSTS_MAX_AGE = 63072000
#: Always allowed to read the app's /metrics through nginx: this host itself.
METRICS_LOOPBACK = ("127.0.0.1", "::1")
#: Debian's nginx exporter: it reads nginx's stub_status and listens on loopback only;
#: nginx serves its page to the monitoring hosts as /nginx-metrics.
EXPORTER_UNIT = "prometheus-nginx-exporter"
EXPORTER_DEFAULTS = f"/etc/default/{EXPORTER_UNIT}"
EXPORTER_LISTEN = "127.0.0.1:9113"

#: ``nginx -t`` of the main configuration with the staged site ($0) instead of sites-enabled.
SITE_TEST = (
    'sh -c \'sed "s#include /etc/nginx/sites-enabled/\\*;#include $0;#" /etc/nginx/nginx.conf'
    f" > {TEST_CONF} && nginx -t -q -c {TEST_CONF}; rc=$?; rm -f {TEST_CONF}; exit $rc'"
)
#: ``nginx -t`` of a minimal configuration that loads the staged ModSecurity rules ($0).
RULES_TEST = (
    "sh -c 'printf \"include /etc/nginx/modules-enabled/*.conf;\\nevents {}\\nhttp {"
    ' modsecurity on; modsecurity_rules_file %s; }\\n" "$0"'
    f" > {TEST_CONF} && nginx -t -q -c {TEST_CONF}; rc=$?; rm -f {TEST_CONF}; exit $rc'"
)


class CorsPolicyError(ValueError):
    """A CORS allowlist that would let any site read answers with the user's credentials."""


def render_site(
    origins: list[str] | None = None,
    credentials: bool = False,
    rate: int = 10,
    burst: int = 20,
    conn_limit: int = 20,
    api_cache_seconds: int = 5,
    api_cache_paths: list[str] | None = None,
    static_root: str = "/srv/hardening-demo-app/static",
    max_body_size: str = "10m",
    paranoia: int = 1,
    lb_port: int = 8080,
    websocket_timeout: int = 3600,
    tls: tuple[str, str] | None = None,
    hsts_include_subdomains: bool = False,
    hsts_preload: bool = False,
    metrics_allow: list[str] | None = None,
    metrics_upstream: str = "127.0.0.1:8000",
    stub_status_port: int = 0,
) -> str:
    """The nginx site text; raises ``CorsPolicyError`` for a refused CORS allowlist.

    With ``tls=(cert_file, key_file)`` port 80 only redirects to HTTPS and the same
    locations are served on 443 (Mozilla intermediate, HSTS). ``/metrics`` is proxied to the
    app instance at ``metrics_upstream`` for loopback and the ``metrics_allow`` addresses or
    networks (the monitoring hosts) only; everyone else gets 403. With ``stub_status_port``
    nginx serves its stub_status on that loopback port and ``/nginx-metrics`` (same
    allowlist) is the nginx exporter's page."""
    origins = list(origins or [])
    problem = cors_problem(origins, credentials)
    if problem:
        raise CorsPolicyError(problem)
    return render(
        "nginx-site.conf.j2",
        origins=[o for o in origins if o != "*"],
        wildcard="*" in origins,
        credentials=credentials,
        rate=rate,
        burst=burst,
        conn_limit=conn_limit,
        api_cache_seconds=api_cache_seconds,
        api_cache_paths=list(api_cache_paths or []),
        static_root=static_root,
        max_body_size=max_body_size,
        paranoia=paranoia,
        modsecurity_rules=MODSECURITY_RULES,
        lb_port=lb_port,
        websocket_timeout=websocket_timeout,
        tls=bool(tls),
        cert_file=tls[0] if tls else "",
        key_file=tls[1] if tls else "",
        hsts=hsts_value(hsts_include_subdomains, hsts_preload) if tls else "",
        metrics_allow=metrics_sources(metrics_allow or []),
        metrics_upstream=metrics_upstream,
        stub_status_port=stub_status_port,
        nginx_exporter=EXPORTER_LISTEN if stub_status_port else "",
    )


def metrics_sources(sources: list[str]) -> list[str]:
    """Loopback and ``sources`` as nginx ``allow`` arguments (normalised, no duplicates);
    raises ``ValueError`` for an entry that is not an IP address or network.

    **Example:**

    >>> metrics_sources(["10.0.0.9", "10.1.0.0/16", "10.0.0.9"])
    ['127.0.0.1', '10.0.0.9', '10.1.0.0/16', '::1']
    """
    v4, v6 = split_families([*METRICS_LOOPBACK, *sources])
    return list(dict.fromkeys(v4 + v6))


def hsts_value(include_subdomains: bool = False, preload: bool = False) -> str:
    """The Strict-Transport-Security value: two years, options as asked."""
    options = ["; includeSubDomains"] * include_subdomains + ["; preload"] * preload
    return f"max-age={HSTS_MAX_AGE}{''.join(options)}"


def render_modsecurity(paranoia: int = 1) -> str:
    """ModSecurity main file: engine On (blocking), CRS with ``paranoia`` (1-4)."""
    if paranoia not in (1, 2, 3, 4):
        raise ValueError(f"web_waf_paranoia_level must be 1-4, not {paranoia!r}")
    return render("modsecurity.conf.j2", paranoia=paranoia)


@operation()
def modsecurity_rules(content: str, path: str = MODSECURITY_RULES):
    """
    Install the ModSecurity rules file, tested with ``nginx -t`` before it is used.

    + content: the file text, e.g. ``render_modsecurity(paranoia=1)``
    + path: where the site's ``modsecurity_rules_file`` points

    **Example:**

    .. code:: python

        nginx.modsecurity_rules(name="WAF rules", content=nginx.render_modsecurity(1))
    """
    yield from validated_swap(content, path, RULES_TEST, RELOAD, "ModSecurity rules")


@operation()
def site(content: str, path: str = SITE_PATH):
    """
    Install the hardening site, test it with ``nginx -t``, enable it, disable Debian's
    default site and reload nginx.

    + content: the site text, e.g. ``render_site(origins=["https://app.example.net"])``
    + path: the file in sites-available (linked from sites-enabled)

    **Example:**

    .. code:: python

        nginx.site(name="nginx site", content=nginx.render_site(rate=10, burst=20))
    """
    yield from validated_swap(content, path, SITE_TEST, RELOAD, "nginx site")
    link = host.get_fact(Link, path=SITE_ENABLED)
    default_site = host.get_fact(Link, path=DEFAULT_ENABLED)
    if link and link.get("link_target") == path and not default_site:
        host.noop(f"{SITE_ENABLED} is enabled and the default site is not")
        return
    yield StringCommand(
        "ln -sfn",
        QuoteString(path),
        QuoteString(SITE_ENABLED),
        "&& rm -f",
        QuoteString(DEFAULT_ENABLED),
        "&& nginx -t -q &&",
        RELOAD,
    )


def render_exporter_defaults(stub_status_port: int, listen: str = EXPORTER_LISTEN) -> str:
    """``/etc/default/prometheus-nginx-exporter``: read the loopback stub_status, listen on
    ``listen`` (loopback), retry while nginx starts."""
    return (
        "# Managed by hardening (deploys/web.py): Prometheus reads this exporter through\n"
        "# nginx (/nginx-metrics, monitoring hosts only). Local changes are overwritten.\n"
        f'ARGS="--nginx.scrape-uri=http://127.0.0.1:{int(stub_status_port)}/stub_status'
        f' --web.listen-address={listen} --nginx.retries=10"\n'
    )


@operation()
def nginx_exporter(stub_status_port: int, listen: str = EXPORTER_LISTEN):
    """
    Install Debian's prometheus-nginx-exporter reading nginx's stub_status on loopback and
    listening on loopback only; restart it when its arguments change.

    + stub_status_port: the loopback port of the site's stub_status server
    + listen: ``host:port`` the exporter listens on (nginx proxies ``/nginx-metrics`` to it)

    **Example:**

    .. code:: python

        nginx.nginx_exporter(name="nginx exporter", stub_status_port=8081)
    """
    yield from apt.packages._inner(packages=[EXPORTER_UNIT], no_recommends=True)
    yield from validated_swap(
        render_exporter_defaults(stub_status_port, listen),
        EXPORTER_DEFAULTS,
        "test -s",
        f"systemctl restart {EXPORTER_UNIT}",
        "nginx exporter arguments",
    )
    yield from systemd.service._inner(service=EXPORTER_UNIT, running=True, enabled=True)
