"""Operations of the runbooks and compliance documents (DR-RUN-*, DOC-02..08) and of the
DR objectives (DR-RTO-02: measured application restart; OPS-M-03 / STAB-07: DR drill)."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO
from typing import Any

from pyinfra import host
from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.facts.files import Sha1File
from pyinfra.operations import files

from hardening.facts.docs import (
    APP_RESTART_RESULT,
    DR_DRILL_RESULT,
    DR_DRILL_UNIT,
    UnitLoadState,
)
from hardening.facts.pgbackrest import DRILL_RESULT
from hardening.operations import postgres
from hardening.operations._render import render, sha1
from hardening.operations.backups import put_config
from hardening.operations.restore_drill import SCRIPT as RESTORE_DRILL
from hardening.runbooks import DOCS_ROOT

APP_RESTART = "/usr/local/sbin/hardening-app-restart"
DR_DRILL = "/usr/local/sbin/hardening-dr-drill"


@operation()
def documents(documents: dict[str, str], root: str = DOCS_ROOT):
    """
    Put generated documents (``{path below root: text}``) on the host, world-readable.

    **Example:**

    .. code:: python

        runbooks.documents(name="Runbooks", documents={"runbooks/rollback.md": "# ..."})
    """
    for directory in sorted({relpath.rsplit("/", 1)[0] for relpath in documents}):
        yield from files.directory._inner(path=f"{root}/{directory}", mode="0755")
    for relpath, text in sorted(documents.items()):
        yield from put_config(f"{root}/{relpath}", text)


@operation()
def host_document(relpath: str, generate: Callable[[], str], root: str = DOCS_ROOT):
    """
    Put a document generated from the host's facts by ``generate()``. When it is not current,
    it is generated again while the operation executes, so it shows what earlier operations
    of the same run changed (users, roles, listeners), not the state before the run.

    **Example:**

    .. code:: python

        runbooks.host_document(name="Access matrix", relpath="docs/access-matrix.md",
                               generate=lambda: render_access_matrix(host.name, ...))
    """
    path = f"{root}/{relpath}"
    if host.get_fact(Sha1File, path=path) == sha1(generate()):
        host.noop(f"{path} is current")
        return
    yield from files.directory._inner(path=path.rsplit("/", 1)[0], mode="0755")

    def write() -> None:
        host.put_file(StringIO(generate()), path)

    yield FunctionCommand(write, (), {})
    yield StringCommand("chmod 0644", QuoteString(path))


@operation()
def install_app_restart():
    """
    Install ``hardening-app-restart UNIT URL TIMEOUT``: restart with a health gate, record the
    measured time in ``/var/lib/hardening/dr/app-restart.json``.

    **Example:**

    .. code:: python

        runbooks.install_app_restart(name="Application restart script")
    """
    script = render("runbooks/hardening-app-restart.sh.j2", result=APP_RESTART_RESULT)
    yield from put_config(APP_RESTART, script, mode="0755")


def service_present(unit: str) -> bool:
    """True when systemd has a unit file for ``unit``."""
    return host.get_fact(UnitLoadState, unit=unit) == "loaded"


#: Hosts whose health gate failed in this pyinfra run: the rolling restart stops there.
STOPPED_ROLL: list[str] = []


def _gated_restart(state: Any, host: Any, command: StringCommand) -> bool:
    """Run the restart unless an earlier host's health gate failed; record a failed gate."""
    if STOPPED_ROLL:
        host.log_styled(
            f"not restarted: the health gate failed on {', '.join(STOPPED_ROLL)}", fg="red"
        )
        return False
    status, output = host.run_shell_command(command, print_output=state.print_output)
    if not status:
        STOPPED_ROLL.append(host.name)
        host.log_styled("health gate failed: " + " ".join(output.stdout_lines), fg="red")
    return bool(status)


@operation(is_idempotent=False)
def restart_app(unit: str, health_url: str, timeout: int = 60):
    """
    Restart ``unit`` and wait for ``health_url`` to answer 2xx (fails the host otherwise);
    a noop when the unit does not exist. Run with ``_serial=True`` for a rolling restart:
    once a host fails its health gate, the hosts after it are not restarted.

    **Example:**

    .. code:: python

        runbooks.restart_app(name="Restart app", unit="hardening-demo-app",
                             health_url="http://127.0.0.1:8000/healthz", _serial=True)
    """
    if not service_present(unit):
        host.noop(f"{unit} is not installed on this host")
        return
    command = StringCommand(
        APP_RESTART, QuoteString(unit), QuoteString(health_url), str(int(timeout))
    )
    yield FunctionCommand(_gated_restart, (command,), {})


@operation()
def dr_drill(app_service: str, health_url: str, timeout: int = 60, calendar: str = ""):
    """
    Install the monthly DR drill (restore drill, then the application restart) as a timer.

    **Example:**

    .. code:: python

        runbooks.dr_drill(name="DR drill", app_service="hardening-demo-app",
                          health_url="http://127.0.0.1:8000/healthz",
                          calendar="*-*-01 04:30:00")
    """
    script = render(
        "runbooks/hardening-dr-drill.sh.j2",
        result=DR_DRILL_RESULT,
        restore_drill=RESTORE_DRILL,
        restore_result=DRILL_RESULT,
        app_service=app_service,
        app_restart=APP_RESTART,
        health_url=health_url,
        timeout=int(timeout),
    )
    yield from put_config(DR_DRILL, script, mode="0755")
    yield from postgres.timer._inner(
        unit=DR_DRILL_UNIT,
        description="Monthly disaster recovery drill (hardening)",
        exec_start=DR_DRILL,
        user="root",
        on_calendar=calendar or "*-*-01 04:30:00",
    )
