"""The reference application on ``web`` hosts, and SEC-02 (a strong JWT secret generated on
the host): service user, code in /opt, static bundle, environment file, database login
through pgBouncer, systemd unit."""

from __future__ import annotations

from urllib.parse import urlsplit

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import server

from hardening.deploys._common import in_groups
from hardening.facts.app import AppEnvFileDrift
from hardening.operations import app as app_ops
from hardening.settings import setting

APP_USER = "hardening-demo-app"
APP_ENV_FILE = "/etc/hardening-demo-app/env"
APP_DB_ROLE = "hardening_demo_app"


def public_url() -> str:
    """The app's public URL: ``app_public_url`` or ``https://<inventory host name>``."""
    return (setting(host.data, "app_public_url") or f"https://{host.name}").rstrip("/")


def app_listen() -> str:
    """``host:port`` the app instance of this host listens on (from ``app_base_url``)."""
    return urlsplit(setting(host.data, "app_base_url")).netloc or "127.0.0.1:8000"


@deploy("Reference application")
def app() -> None:
    if not in_groups("web"):
        return
    unit = setting(host.data, "app_service")
    static_dir = setting(host.data, "app_static_dir")
    env_path = setting(host.data, "app_env_file") or APP_ENV_FILE
    url_var = setting(host.data, "app_database_url_var")
    base = public_url()
    ws_base = base.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    server.user(
        name=f"Service user {APP_USER}",
        user=APP_USER,
        system=True,
        shell="/usr/sbin/nologin",
        home="/nonexistent",
        create_home=False,
    )
    app_ops.bundle(
        name="Static bundle (fingerprinted, with service worker)",
        static_dir=static_dir,
        api_base=f"{base}/api",
        ws_url=f"{ws_base}/ws",
        offline_route=setting(host.data, "app_offline_route"),
    )
    bouncer = f"127.0.0.1:{setting(host.data, 'pgbouncer_port')}"
    spec = app_ops.env_spec(
        plain={
            "API_BASE_URL": f"{base}/api",
            "OTLP_ENDPOINT": setting(host.data, "app_otlp_endpoint"),
            "APP_STATIC_DIR": static_dir,
            "APP_MAX_UPLOAD_BYTES": str(setting(host.data, "app_max_upload_bytes")),
            # MON-WARN-05: the app's rate-limit gauges measure against nginx's limit
            "APP_RATE_LIMIT_PER_SECOND": str(setting(host.data, "web_rate_limit_per_second")),
        },
        generated=(setting(host.data, "jwt_secret_var"),),
        database_url_var=url_var,
        database_url=f"postgresql://{APP_DB_ROLE}:@PASSWORD@@{bouncer}/postgres",
    )
    drift = host.get_fact(AppEnvFileDrift, path=env_path, user=APP_USER, spec=spec)
    app_ops.env_file(
        name="Environment file (JWT secret and DB password generated on the host)",
        path=env_path,
        user=APP_USER,
        spec=spec,
    )
    app_ops.database_login(
        name="Database login through pgBouncer",
        role=APP_DB_ROLE,
        env_file=env_path,
        database_url_var=url_var,
    )
    listen = app_listen()
    app_ops.service(
        name=f"{unit} service",
        unit=unit,
        user=APP_USER,
        env_file=env_path,
        listen=listen,
        restart=bool(drift),
    )
