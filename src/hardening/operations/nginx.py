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
) -> str:
    """The nginx site text; raises ``CorsPolicyError`` for a refused CORS allowlist.

    With ``tls=(cert_file, key_file)`` port 80 only redirects to HTTPS and the same
    locations are served on 443 (Mozilla intermediate, HSTS)."""
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
    )


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
