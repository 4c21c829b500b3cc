"""DR-BAK-03: weekly archives of /etc and the services' configuration, 12-week retention."""

from __future__ import annotations

from io import StringIO

from pyinfra.api import operation
from pyinfra.operations import files

from hardening.facts.config_backup import CONFIG_FILE, DEFAULT_DESTINATION
from hardening.operations._render import render
from hardening.operations.logs import LIB, scripted_timer

#: What is archived by default: /etc (every service's configuration) and hardening's scripts.
DEFAULT_PATHS = ("/etc", LIB)


@operation()
def timer(
    destination: str = DEFAULT_DESTINATION,
    keep_weeks: int = 12,
    paths: list[str] | tuple[str, ...] = DEFAULT_PATHS,
    on_calendar: str = "Sun *-*-* 02:30",
):
    """
    A weekly timer archiving ``paths`` to ``destination`` (0700, archives 0600: they hold
    secrets) and deleting archives older than ``keep_weeks`` weeks; runs once when installed.

    + destination: local directory of the archives
    + keep_weeks: retention in weeks
    + paths: files and directories to archive
    + on_calendar: systemd calendar of the weekly run

    **Example:**

    .. code:: python

        config_backup.timer(name="Weekly configuration backup", keep_weeks=12)
    """
    conf = render(
        "hardening-config-backup.conf.j2",
        destination=destination,
        keep_weeks=keep_weeks,
        paths=list(paths),
    )
    yield from files.directory._inner(path="/etc/hardening")
    yield from files.put._inner(src=StringIO(conf), dest=CONFIG_FILE, mode="0644")
    yield from scripted_timer(
        "hardening-config-backup.sh",
        "hardening-config-backup",
        "hardening: weekly configuration backup",
        on_calendar=on_calendar,
    )
