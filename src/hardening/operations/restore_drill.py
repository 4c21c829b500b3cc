"""Restore drill operations: install the drill (script, settings, monthly timer), run it.

The drill restores the newest pgBackRest backup into a scratch data directory, starts a
temporary PostgreSQL on another port (``archive_mode=off``), counts the rows of declared
tables, runs ``pg_amcheck``, stops and removes it, and writes the measured RTO and RPO to
``/var/lib/hardening/drill/last.json`` (read by the ``RestoreDrillResult`` fact).
"""

from __future__ import annotations

import json
from importlib import resources

from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString

from hardening.facts.pgbackrest import DRILL_RESULT
from hardening.operations._render import render
from hardening.operations.backups import install_units, put_config, timer_unit

SCRIPT = "/usr/local/sbin/hardening-restore-drill"
SETTINGS = "/etc/hardening/restore-drill.json"
SCRATCH = "/var/lib/hardening/drill/data"


def drill_settings(stanza: str, port: int, tables: list[str]) -> str:
    """The drill's settings file (JSON)."""
    return (
        json.dumps(
            {
                "stanza": stanza,
                "port": int(port),
                "tables": list(tables),
                "scratch": SCRATCH,
                "socket_dir": "/var/lib/hardening/drill/socket",
                "live_data": "/var/lib/postgresql/15/main",
                "pgbin": "/usr/lib/postgresql/15/bin",
                "result": DRILL_RESULT,
            },
            indent=1,
            sort_keys=True,
        )
        + "\n"
    )


@operation()
def install(
    stanza: str = "main",
    port: int = 55432,
    tables: list[str] | tuple[str, ...] = (),
    calendar: str = "*-*-01 03:00:00",
):
    """
    Install the restore drill script, its settings and a timer (monthly by default).

    + port: port of the drill's temporary PostgreSQL (Unix socket only)
    + tables: ``database/table`` entries whose rows the drill counts
    + calendar: systemd OnCalendar of the drill

    **Example:**

    .. code:: python

        restore_drill.install(name="Monthly restore drill", tables=["app/users"])
    """
    script = resources.files("hardening.operations").joinpath(
        "templates/hardening-restore-drill.py"
    )
    yield from put_config(SCRIPT, script.read_text(), mode="0755")
    yield from put_config(SETTINGS, drill_settings(stanza, port, list(tables)))
    units = {
        "hardening-restore-drill.service": render("hardening-restore-drill.service.j2"),
        "hardening-restore-drill.timer": timer_unit(
            "Monthly restore drill (hardening)", calendar, "hardening-restore-drill.service"
        ),
    }
    yield from install_units(units, ("hardening-restore-drill",))


@operation(is_idempotent=False)
def drill(target: str = "latest", force: bool = False):
    """
    Run the restore drill now (it always runs: it is a measurement).

    + target: ``latest`` (end of the archived WAL) or a timestamp for point-in-time recovery
    + force: empty a scratch directory that is not empty (otherwise the drill refuses)

    **Example:**

    .. code:: python

        restore_drill.drill(name="Restore drill", target="2024-05-01 12:00:00+00")
    """
    argv = [SCRIPT, "--target", QuoteString(target)]
    if force:
        argv.append("--force")
    yield StringCommand(*argv)
