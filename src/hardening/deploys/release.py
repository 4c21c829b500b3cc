"""Deployment day (PRE-03..07, DEP-01..06, POST-01..07, STAB-01..05): one release, in phases.

``hardening deploy-day`` runs ``deploys/release.py`` once per phase with
``--data deployday_phase=PHASE --data deployday_release=RELEASE``:

- ``preflight``: host tool, state snapshot and rollback plan, verbose logging on;
- ``backend`` (web hosts, one at a time): switch ``current`` to the release, restart, health
  gate, log scan;
- ``frontend``: static bundle switch once the backend is healthy, frontend load, smoke tests,
  integrations, error rates and latency from Prometheus (monitoring hosts);
- ``post``: control-node gates recorded, documentation note, verbose logging off, watch timer;
- ``watch``: one 24-48 h sample now.

Phase ``all`` runs the host part of every phase in order (without the control-node gates).
"""

from __future__ import annotations

import json
import os

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import Link
from pyinfra.operations import files

from hardening.deploys._common import in_groups
from hardening.facts.deployday import DeployDayRecord
from hardening.operations import deployday as ops
from hardening.operations.postgres import timer
from hardening.settings import setting

STATE_DIR = "/var/lib/hardening/deployday"
#: Local run directory of the control node (``deploy-day`` sets it per run).
RUN_DIR_ENV = "HARDENING_DEPLOYDAY_RUN_DIR"


def _app() -> dict:
    """Options of the host tool from inventory data."""
    return {
        "current": f"{setting(host.data, 'deployday_app_dir')}/current",
        "static": setting(host.data, "deployday_static_dir"),
        "service": setting(host.data, "deployday_service"),
        "health": setting(host.data, "deployday_app_url")
        + setting(host.data, "deployday_health_path"),
        "timeout": setting(host.data, "deployday_health_timeout"),
        "table": _list("deployday_integrity_tables"),
    }


def _list(key: str) -> list[str]:
    value = setting(host.data, key)
    return json.loads(value) if isinstance(value, str) else list(value)


def _release() -> str:
    release = setting(host.data, "deployday_release")
    if not release:
        raise ValueError("no release given: --data deployday_release=VERSION")
    return release


def _fetch(release: str, filename: str) -> None:
    """Copy a file of the release's state directory into the local run directory."""
    run_dir = os.environ.get(RUN_DIR_ENV)
    if run_dir:
        files.get(
            name=f"Fetch {filename}",
            src=f"{STATE_DIR}/{release}/{filename}",
            dest=f"{run_dir}/{host.name}/{filename}",
            create_local_dir=True,
        )


@deploy("Deploy-day pre-flight")
def preflight() -> None:
    """PRE-03, PRE-04, PRE-05: snapshot, rollback plan, verbose logging on."""
    release = _release()
    ops.install_tool(name="Deploy-day tool")
    source = setting(host.data, "deployday_release_src")
    if source and in_groups("web"):
        files.sync(
            name="Upload the release",
            src=source,
            dest=f"{setting(host.data, 'deployday_app_dir')}/releases/{release}",
        )
    args = []
    if setting(host.data, "deployday_schema_query"):
        args = ["--schema-query", setting(host.data, "deployday_schema_query")]
    ops.step(
        name="State snapshot and rollback plan",
        step="snapshot",
        release=release,
        args=args,
        app=_app(),
    )
    ops.verbose_logging(name="Verbose logging on", present=True)
    ops.step(
        name="Record verbose logging",
        step="record",
        release=release,
        args=[json.dumps({"verbose_logging": {"status": "pass", "detail": "switched on"}})],
    )
    _fetch(release, "snapshot.json")
    _fetch(release, "ROLLBACK.md")


@deploy("Deploy-day backend")
def backend() -> None:
    """DEP-01, DEP-02: switch the backend, health gate, log scan (web hosts)."""
    if not in_groups("web"):
        return
    release = _release()
    app = _app()
    ops.step(name="Backend switch and health gate", step="switch", release=release, app=app)
    ops.step(
        name="Backend log scan",
        step="logscan",
        release=release,
        args=[f"--since={setting(host.data, 'deployday_started') or '-10min'}"],
        app=app,
    )


@deploy("Deploy-day frontend and smoke tests")
def frontend() -> None:
    """DEP-03..06, POST-02, POST-04: frontend after backend, smoke tests, metrics."""
    release = _release()
    app = _app()
    base = setting(host.data, "deployday_app_url")
    if in_groups("web"):
        ops.step(
            name="Frontend switch and load",
            step="frontend",
            release=release,
            args=["--url", base + "/"],
            app=app,
        )
        ops.step(
            name="Smoke tests",
            step="smoke",
            release=release,
            args=["--base", base, *_list("deployday_smoke_paths")],
            app=app,
        )
        websocket = setting(host.data, "deployday_websocket_path")
        if websocket:
            ops.step(
                name="WebSocket echo",
                step="websocket",
                release=release,
                args=["--url", base.replace("http", "ws", 1) + websocket],
            )
    integrations = _list("deployday_integration_urls")
    if integrations:
        ops.step(
            name="Integrations",
            step="smoke",
            release=release,
            args=["--base", "", "--gate", "integrations", *integrations],
        )
    if in_groups("monitoring"):
        ops.step(
            name="Error rates and latency",
            step="prometheus",
            release=release,
            args=[
                "--url",
                setting(host.data, "deployday_prometheus_url"),
                "--max-error-rate",
                str(setting(host.data, "deployday_max_error_permille") / 1000),
                "--max-p95-ms",
                str(setting(host.data, "deployday_max_p95_ms")),
            ],
        )


@deploy("Deploy-day post-deployment")
def post() -> None:
    """POST-01, POST-07, STAB-*: control-node gates, note, verbose off, watch timer."""
    release = _release()
    app = _app()
    gates = setting(host.data, "deployday_gates")  # pyinfra --data may parse the JSON
    if gates:
        text = gates if isinstance(gates, str) else json.dumps(gates)
        ops.step(name="Record control-node gates", step="record", release=release, args=[text])
    ops.step(name="Documentation note", step="note", release=release, app=app)
    ops.verbose_logging(name="Verbose logging off", present=False)
    ops.step(name="Finish", step="finish", release=release, args=["success"])
    timer(
        unit="hardening-deployday-watch",
        description="hardening deploy-day watch (24-48 h after a release)",
        exec_start=f"{ops.TOOL} {_watch_args()} watch {release}",
        user="root",
        interval=setting(host.data, "deployday_watch_interval"),
    )
    _fetch(release, "NOTES.md")


def _watch_args() -> str:
    app = _app()
    tables = " ".join(f"--table {table}" for table in app["table"])
    return f"--service {app['service']} {tables}".strip()


@deploy("Deploy-day watch sample")
def watch() -> None:
    """STAB-01, 02, 04, 05: one watch sample now."""
    release = _release()
    args = ["--hours", str(setting(host.data, "deployday_watch_hours"))]
    if in_groups("monitoring"):
        args += ["--prometheus", setting(host.data, "deployday_prometheus_url")]
    ops.step(name="Watch sample", step="watch", release=release, args=args, app=_app())


@deploy("Deploy-day rollback")
def rollback() -> None:
    """Roll back to the snapshot taken before the release, verbose logging off."""
    release = _release()
    if in_groups("web"):
        ops.rollback(name=f"Roll back {release}", release=release, app=_app())
    ops.verbose_logging(name="Verbose logging off", present=False)


PHASES = {
    "preflight": (preflight,),
    "backend": (backend,),
    "frontend": (frontend,),
    "post": (post,),
    "watch": (watch,),
    "rollback": (rollback,),
    "all": (preflight, backend, frontend, post),
}


#: Phases that deploy a release: skipped when that release is already live on the host.
DEPLOYING_PHASES = ("preflight", "backend", "frontend", "post", "all")


def already_live(record: dict | None, release: str, current: str | None) -> bool:
    """True when ``release`` finished successfully on this host and is still the one
    ``current`` points at (``current`` None: a host without the app, e.g. a db host)."""
    if not record or record.get("release") != release or record.get("result") != "success":
        return False
    return current is None or current.rstrip("/").endswith(f"/releases/{release}")


def _live_release() -> str:
    """The release name when it is already live here (a rerun has nothing to do), else ''."""
    release = _release()
    current = None
    if in_groups("web"):
        link = host.get_fact(Link, path=_app()["current"])
        current = (link or {}).get("link_target") or ""
    return release if already_live(host.get_fact(DeployDayRecord), release, current) else ""


def release() -> None:
    """Run the phase named by ``deployday_phase`` (default ``all``).

    A rerun of a release that already finished successfully and is still live changes
    nothing (every deploying phase is skipped with a noop); ``watch`` and ``rollback``
    always run.
    """
    phase = setting(host.data, "deployday_phase")
    if phase not in PHASES:
        raise ValueError(f"deployday_phase {phase!r}: use one of {', '.join(PHASES)}")
    live = _live_release() if phase in DEPLOYING_PHASES else ""
    if live:
        ops.already_live(name=f"Release {live} is already live", release=live)
        return
    for function in PHASES[phase]:
        function()
