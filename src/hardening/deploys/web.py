"""SEC-05, SEC-06, FE-05, FE-06, PERF-08, INF-04, INF-01: the web tier on ``web`` hosts.

nginx (port 80; TLS is another component's) serves the static bundle and proxies to
haproxy on loopback, which balances the application instances with active health checks.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import DeployError, deploy
from pyinfra.operations import systemd

from hardening.deploys._common import in_groups
from hardening.operations import haproxy as haproxy_ops
from hardening.operations import nginx as nginx_ops
from hardening.settings import setting
from hardening.web_policy import cors_problem


@deploy("Web tier: nginx, ModSecurity WAF, haproxy")
def web() -> None:
    if not in_groups("web"):
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
        ),
    )
