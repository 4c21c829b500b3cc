"""haproxy load balancer with active HTTP health checks (INF-01)."""

from __future__ import annotations

from pyinfra.api import operation

from hardening.operations._render import render
from hardening.operations._swap import validated_swap

CONFIG_PATH = "/etc/haproxy/haproxy.cfg"
STATS_SOCKET = "/run/haproxy/admin.sock"


def render_config(
    servers: list[str],
    port: int = 8080,
    health_path: str = "/healthz",
    websocket_timeout: int = 3600,
) -> str:
    """``haproxy.cfg``: a loopback frontend on ``port`` balancing ``servers`` (host:port)."""
    if not servers:
        raise ValueError("web_app_servers is empty: haproxy needs at least one server")
    return render(
        "haproxy.cfg.j2",
        servers=servers,
        port=port,
        health_path=health_path,
        websocket_timeout=websocket_timeout,
    )


@operation()
def config(content: str, path: str = CONFIG_PATH):
    """
    Install the haproxy configuration, checked with ``haproxy -c`` first, then reload.

    + content: the configuration, e.g. ``render_config(["127.0.0.1:8000"])``
    + path: haproxy's configuration file

    **Example:**

    .. code:: python

        haproxy.config(name="haproxy", content=haproxy.render_config(["10.0.0.5:8000"]))
    """
    yield from validated_swap(
        content, path, "haproxy -c -q -f", "systemctl reload haproxy", "haproxy configuration"
    )
