"""Deploy-day operations: the host tool, its steps (gates), verbose logging, rollback.

The host side is one stdlib script, ``/usr/local/sbin/hardening-deployday`` (template
``hardening-deployday.py``): every step records a gate in
``/var/lib/hardening/deployday/<release>/record.json`` and ``last.json`` and exits 1 with
``GATE FAILED <name>: <detail>`` when the gate fails, which stops pyinfra on that host.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.facts.files import Directory, Sha1File
from pyinfra.facts.server import Which
from pyinfra.operations import files

from hardening import wsprobe
from hardening.facts.deployday import DeployDayRecord
from hardening.operations._render import sha1

TOOL = "/usr/local/sbin/hardening-deployday"
TEMPLATES = Path(__file__).resolve().parent / "templates"
NGINX_VERBOSE = "/etc/nginx/conf.d/90-hardening-deployday.conf"
PG_CONF_DIR = "/etc/postgresql/15/main/conf.d"
PG_VERBOSE = f"{PG_CONF_DIR}/90-hardening-deployday.conf"
NGINX_VERBOSE_TEXT = (
    "# Managed by hardening deploy-day (removed after the window).\n"
    "error_log /var/log/nginx/error.log info;\n"
)
PG_VERBOSE_TEXT = (
    "# Managed by hardening deploy-day (removed after the window).\n"
    "log_min_duration_statement = 0\nlog_connections = on\nlog_disconnections = on\n"
)


#: Line of the tool's template replaced by :mod:`hardening.wsprobe` (shared with AppProbe).
INLINE_WSPROBE = "# hardening:inline wsprobe"


def tool_text() -> str:
    """The host tool as installed: its template (not Jinja) with the WebSocket probe inlined."""
    template = (TEMPLATES / "hardening-deployday.py").read_text(encoding="utf-8")
    marker = next(line for line in template.splitlines() if line.startswith(INLINE_WSPROBE))
    return template.replace(marker, inspect.getsource(wsprobe).rstrip("\n"), 1)


@operation()
def install_tool():
    """
    Install ``/usr/local/sbin/hardening-deployday`` (the host side of deploy-day).

    **Example:**

    .. code:: python

        deployday.install_tool(name="Deploy-day tool")
    """
    text = tool_text()
    if host.get_fact(Sha1File, path=TOOL) == sha1(text):
        host.noop(f"{TOOL} is up to date")
        return
    yield from files.put._inner(src=StringIO(text), dest=TOOL, mode="0755")


def tool_command(step: str, release: str, *args: str, app: dict[str, str] | None = None):
    """``hardening-deployday [app options] STEP RELEASE ARGS`` as a quoted command."""
    options: list[object] = []
    for key, value in (app or {}).items():
        values = value if isinstance(value, list | tuple) else [value]
        for entry in values:
            options += [f"--{key}", QuoteString(str(entry))]
    return StringCommand(TOOL, *options, step, QuoteString(release), *map(QuoteString, args))


@operation(is_idempotent=False)
def step(step: str, release: str, args: Sequence[str] = (), app: dict | None = None):
    """
    Run one deploy-day step on the host; the step records its gate (a probe: always runs).

    + step: snapshot, switch, frontend, logscan, smoke, prometheus, record, note, finish, watch
    + release: the release name the record belongs to
    + args: the step's own arguments
    + app: tool options (current, static, service, health, timeout, table)

    **Example:**

    .. code:: python

        deployday.step(name="Smoke tests", step="smoke", release="v2",
                       args=["/healthz", "/api/items"])
    """
    yield tool_command(step, release, *args, app=app)


def _switch_file(path: str, text: str, present: bool, validate: str, reload: str):
    """Put or remove a drop-in, validate the result (restore on failure) and reload."""
    current = host.get_fact(Sha1File, path=path)
    if present and current == sha1(text):
        host.noop(f"{path} is in place")
        return
    if not present and current is None:
        host.noop(f"{path} is absent")
        return
    if present:
        yield from files.put._inner(src=StringIO(text), dest=path, mode="0644")
        yield f"{validate} || {{ rm -f {path}; exit 1; }}"
    else:
        yield f"rm -f {path}"
    yield reload


@operation()
def verbose_logging(present: bool = True):
    """
    Switch verbose logging on (``present``) or off for the deployment window (PRE-05):
    nginx ``error_log ... info`` and PostgreSQL ``log_min_duration_statement = 0`` plus
    connection logging, as drop-ins validated before the reload.

    **Example:**

    .. code:: python

        deployday.verbose_logging(name="Verbose logging on", present=True)
    """
    touched = False
    if host.get_fact(Which, command="nginx"):
        touched = True
        yield from _switch_file(
            NGINX_VERBOSE, NGINX_VERBOSE_TEXT, present, "nginx -t -q", "systemctl reload nginx"
        )
    if host.get_fact(Directory, path=PG_CONF_DIR):
        touched = True
        yield from _switch_file(
            PG_VERBOSE,
            PG_VERBOSE_TEXT,
            present,
            "runuser -u postgres -- /usr/lib/postgresql/15/bin/postgres "
            "-D /var/lib/postgresql/15/main -c config_file=/etc/postgresql/15/main/postgresql.conf "
            "-C log_min_duration_statement >/dev/null",
            "systemctl reload postgresql@15-main",
        )
    if not touched:
        host.noop("neither nginx nor PostgreSQL 15 on this host")


@operation()
def already_live(release: str):
    """
    Report that ``release`` is already live on this host (a rerun changes nothing).

    **Example:**

    .. code:: python

        deployday.already_live(name="Release v2 already live", release="v2")
    """
    host.noop(f"release {release} is already live (deploy-day finished: success)")
    yield from ()


@operation()
def rollback(release: str, app: dict | None = None):
    """
    Roll this host back to the state snapshot taken before ``release`` (previous release
    symlink and static bundle, service restarted, health waited for).

    **Example:**

    .. code:: python

        deployday.rollback(name="Roll back v2", release="v2")
    """
    record = host.get_fact(DeployDayRecord)
    if record and record.get("release") == release and record.get("result") == "rolled_back":
        host.noop(f"release {release} is already rolled back")
        return
    yield tool_command("rollback", release, app=app)
