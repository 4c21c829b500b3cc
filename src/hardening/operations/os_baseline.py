"""OS baseline (issue 4): core dumps off, password aging, persistent journal and
security-only unattended upgrades. The baseline sysctls use ``firewall.sysctls``."""

from __future__ import annotations

from collections.abc import Iterable
from io import StringIO

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.facts.files import Sha1File
from pyinfra.operations import apt, files

from hardening.operations._render import render, sha1
from hardening.security_policy import (
    CORE_LIMITS_FILE,
    COREDUMP_DROP_IN,
    JOURNALD_DROP_IN,
    SECURITY_ORIGINS,
    UNATTENDED_FILE,
)

HEADER = "# Managed by hardening (deploys/os_baseline.py); local changes are overwritten.\n"


def _differs(path: str, content: str) -> bool:
    return host.get_fact(Sha1File, path=path) != sha1(content)


@operation()
def core_dumps():
    """
    No core dumps: ``core 0`` limits for every user and root (``*`` excludes root) and
    systemd-coredump with ``Storage=none`` (``fs.suid_dumpable=0`` is in the baseline sysctls).

    **Example:**

    .. code:: python

        os_baseline.core_dumps(name="Core dumps off")
    """
    limits = HEADER + "".join(
        f"{who}\t{kind}\tcore\t0\n" for who in ("*", "root") for kind in ("hard", "soft")
    )
    coredump = HEADER + "[Coredump]\nStorage=none\nProcessSizeMax=0\n"
    yield from files.put._inner(src=StringIO(limits), dest=CORE_LIMITS_FILE, mode="0644")
    yield from files.directory._inner(path=COREDUMP_DROP_IN.rsplit("/", 1)[0])
    yield from files.put._inner(src=StringIO(coredump), dest=COREDUMP_DROP_IN, mode="0644")


@operation()
def login_defs(values: dict[str, str]):
    """
    Set keys of ``/etc/login.defs`` (password aging, umask for new accounts).

    + values: key -> value, e.g. ``{"PASS_MAX_DAYS": "60"}``

    **Example:**

    .. code:: python

        os_baseline.login_defs(name="Password aging", values={"PASS_MAX_DAYS": "60"})
    """
    for key, value in values.items():
        yield from files.line._inner(
            path="/etc/login.defs", line=rf"^{key}\s", replace=f"{key}\t{value}"
        )


@operation()
def persistent_journal():
    """
    journald keeps the journal on disk (``Storage=persistent``, in a drop-in without
    retention keys: retention belongs to the log shipping configuration); journald is
    restarted and flushed only when the drop-in changes.

    **Example:**

    .. code:: python

        os_baseline.persistent_journal(name="Persistent journal")
    """
    content = HEADER + "[Journal]\nStorage=persistent\n"
    changed = _differs(JOURNALD_DROP_IN, content)
    yield from files.directory._inner(path=JOURNALD_DROP_IN.rsplit("/", 1)[0])
    yield from files.put._inner(src=StringIO(content), dest=JOURNALD_DROP_IN, mode="0644")
    if changed:
        yield (
            "mkdir -p /var/log/journal && systemd-tmpfiles --create --prefix /var/log/journal"
            " && systemctl restart systemd-journald && journalctl --flush"
        )


@operation()
def unattended_upgrades(origins: Iterable[str] = SECURITY_ORIGINS):
    """
    unattended-upgrades installed and allowed to upgrade from the security origins only
    (``#clear`` drops Debian's other origins); the file is checked with ``apt-config``
    before it is swapped in.

    + origins: ``Unattended-Upgrade::Origins-Pattern`` entries

    **Example:**

    .. code:: python

        os_baseline.unattended_upgrades(name="Security updates only")
    """
    yield from apt.packages._inner(packages=["unattended-upgrades"])
    content = render("unattended-upgrades-security.j2", origins=list(origins))
    if not _differs(UNATTENDED_FILE, content):
        host.noop(f"{UNATTENDED_FILE} is current")
        return
    staged = "/etc/apt/hardening-staged-unattended.conf"
    yield from files.put._inner(src=StringIO(content), dest=staged, mode="0644")
    yield StringCommand(
        "apt-config -c",
        staged,
        "dump >/dev/null && install -m 0644",
        staged,
        UNATTENDED_FILE,
        "; status=$?; rm -f",
        staged,
        "; exit $status",
    )
