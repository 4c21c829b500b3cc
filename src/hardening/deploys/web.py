"""SEC-05, SEC-06, FE-05, FE-06, PERF-08, INF-04, INF-01: the web tier on ``web`` hosts.

nginx serves the static bundle and proxies to haproxy on loopback, which balances the
application instances with active health checks. With ``web_tls`` (SEC-03) nginx gets a
certificate from the internal CA (deploys/tls.py) and serves the site on 443 only; port 80
redirects. The app's ``/metrics`` and the nginx exporter's page (``/nginx-metrics``; the exporter
listens on loopback) are proxied for the monitoring hosts only (Prometheus' jobs ``app`` and
``nginx``, deploys/monitoring.py); everyone else gets 403. Order in ``harden()``: unchanged
(``web`` after ``app``, before ``tls``).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import DeployError, deploy
from pyinfra.facts.files import File
from pyinfra.operations import systemd

from hardening.deploys._common import in_groups, not_needed_here
from hardening.deploys.app import app_listen
from hardening.deploys.firewall import group_addresses
from hardening.deploys.tls import certificate, trusted_ca
from hardening.firewall_policy import EXPORTER_SCRAPERS
from hardening.operations import haproxy as haproxy_ops
from hardening.operations import nginx as nginx_ops
from hardening.settings import setting
from hardening.web_policy import cors_problem


def nginx_exporter_on(data) -> bool:
    """Whether a web host's ``data`` asks for the nginx exporter (``web_nginx_exporter``)."""
    return bool(setting(data, "web_nginx_exporter"))


def metrics_scrapers() -> list[str]:
    """Who may read the app's ``/metrics`` through nginx (besides loopback): the addresses of
    the monitoring hosts and ``firewall_monitoring_sources``, as for the exporters' ports."""
    sources = [address for group in EXPORTER_SCRAPERS for address in group_addresses(group)]
    return sources + [str(entry) for entry in setting(host.data, "firewall_monitoring_sources")]


@deploy("Web tier: nginx, ModSecurity WAF, haproxy")
def web() -> None:
    if not in_groups("web"):
        # installed but not a web host (e.g. a testbed image with everything): not serving
        for unit in ("nginx", "haproxy", nginx_ops.EXPORTER_UNIT):
            if host.get_fact(File, path=f"/lib/systemd/system/{unit}.service"):
                not_needed_here(unit)
        return
    data = host.data
    origins = list(setting(data, "web_cors_origins"))
    problem = cors_problem(origins, bool(setting(data, "web_cors_allow_credentials")))
    if problem:
        raise DeployError(f"{host.name}: refused, nothing changed: {problem}")
    paranoia = setting(data, "web_waf_paranoia_level")
    websocket_timeout = setting(data, "web_websocket_timeout")
    for unit in ("haproxy", "nginx"):
        systemd.service(name=f"{unit} runs", service=unit, running=True, enabled=True)
    haproxy_ops.config(
        name="haproxy: app instances with HTTP health checks (haproxy -c)",
        content=haproxy_ops.render_config(
            servers=list(setting(data, "web_app_servers")),
            port=setting(data, "web_lb_port"),
            websocket_timeout=websocket_timeout,
        ),
    )
    nginx_ops.modsecurity_rules(
        name=f"ModSecurity + OWASP CRS, blocking, paranoia level {paranoia} (nginx -t)",
        content=nginx_ops.render_modsecurity(paranoia),
    )
    stub_status_port = setting(data, "web_stub_status_port") if nginx_exporter_on(data) else 0
    tls = None
    if setting(data, "web_tls"):
        certificate(trusted_ca(), nginx_ops.CERT, nginx_ops.KEY, "root", nginx_ops.RELOAD)
        tls = (nginx_ops.CERT, nginx_ops.KEY)
    nginx_ops.site(
        name="nginx site: gzip, cache headers, CORS, rate limits, proxy cache (nginx -t)",
        content=nginx_ops.render_site(
            origins=origins,
            credentials=bool(setting(data, "web_cors_allow_credentials")),
            rate=setting(data, "web_rate_limit_per_second"),
            burst=setting(data, "web_rate_limit_burst"),
            conn_limit=setting(data, "web_conn_limit"),
            api_cache_seconds=setting(data, "web_api_cache_seconds"),
            api_cache_paths=list(setting(data, "web_api_cache_paths")),
            static_root=setting(data, "web_static_root"),
            max_body_size=setting(data, "web_max_body_size"),
            paranoia=paranoia,
            lb_port=setting(data, "web_lb_port"),
            websocket_timeout=websocket_timeout,
            tls=tls,
            hsts_include_subdomains=bool(setting(data, "web_hsts_include_subdomains")),
            hsts_preload=bool(setting(data, "web_hsts_preload")),
            metrics_allow=metrics_scrapers(),
            metrics_upstream=app_listen(),
            stub_status_port=stub_status_port,
        ),
    )
    if stub_status_port:
        nginx_ops.nginx_exporter(
            name="nginx exporter on loopback (Prometheus reads it through /nginx-metrics)",
            stub_status_port=stub_status_port,
        )
