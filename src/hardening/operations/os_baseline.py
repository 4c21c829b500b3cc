"""OS baseline (issue 4): core dumps off, password aging, persistent journal,
security-only unattended upgrades, unused kernel modules disabled, sensitive file
permissions, PAM lockout and password length, time sync. The baseline sysctls use
``firewall.sysctls``."""

from __future__ import annotations

from collections.abc import Iterable
from io import StringIO

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.facts.files import File, Sha1File
from pyinfra.operations import apt, files, systemd

from hardening.facts.security import FilePermissions, PamPolicy
from hardening.operations._render import render, sha1
from hardening.security_policy import (
    CORE_LIMITS_FILE,
    COREDUMP_DROP_IN,
    FAILLOCK_CONF,
    JOURNALD_DROP_IN,
    MODPROBE_FILE,
    PAM_CONFIGS,
    SECURITY_ORIGINS,
    SENSITIVE_PATHS,
    TIMESYNCD_DROP_IN,
    UNATTENDED_FILE,
    modprobe_conf,
    pam_problems,
    pam_profiles,
    permission_for,
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


@operation()
def kernel_modules(modules: Iterable[str]):
    """
    Unused filesystems and protocols cannot be loaded: ``install <m> /bin/false`` and
    ``blacklist <m>`` in ``/etc/modprobe.d/60-hardening-disable.conf`` (read at the next
    load; a module loaded now stays until reboot).

    + modules: module names, e.g. ``["cramfs", "usb-storage"]``

    **Example:**

    .. code:: python

        os_baseline.kernel_modules(name="Unused modules off", modules=["cramfs", "dccp"])
    """
    content = HEADER + modprobe_conf(sorted(modules))
    yield from files.directory._inner(path=MODPROBE_FILE.rsplit("/", 1)[0])
    yield from files.put._inner(src=StringIO(content), dest=MODPROBE_FILE, mode="0644")


@operation()
def file_permissions():
    """
    Sensitive files and directories (``SENSITIVE_PATHS``: passwd, shadow, sshd_config, host
    keys, crontab, cron directories, ...) get their mode, owner and group where they allow
    more than the policy; stricter modes are kept.

    **Example:**

    .. code:: python

        os_baseline.file_permissions(name="Sensitive file permissions")
    """
    live = host.get_fact(FilePermissions, globs=tuple(SENSITIVE_PATHS))
    changed = False
    for path, state in sorted(live.items()):
        rule = permission_for(path)
        if rule is None or not rule.problem(state["mode"], state["user"], state["group"]):
            continue
        changed = True
        change = files.directory if rule.directory else files.file
        yield from change._inner(
            path=path, mode=f"{rule.mode:04o}", user=rule.user, group=rule.group
        )
    if not changed:
        host.noop(f"{len(live)} sensitive paths have their permissions")


@operation()
def pam_policy(faillock: dict[str, str], min_length: int):
    """
    pam_faillock locks an account after failed passwords (``faillock.conf`` keys; root is
    never locked and SSH key logins are not counted) and pam_unix refuses passwords shorter
    than ``min_length``: ``pam-auth-update`` profiles, enabled only when they changed or the
    stack lacks them (a locally edited stack is left alone by ``pam-auth-update``).

    + faillock: ``faillock.conf`` keys, e.g. ``{"deny": "5", "unlock_time": "900"}``
    + min_length: pam_unix ``minlen``

    **Example:**

    .. code:: python

        os_baseline.pam_policy(name="PAM policy", faillock={"deny": "5"}, min_length=12)
    """
    for key, value in faillock.items():
        yield from files.line._inner(
            path=FAILLOCK_CONF, line=rf"^#?\s*{key}\s*=", replace=f"{key} = {value}"
        )
    profiles = pam_profiles(min_length)
    stale = bool(pam_problems(host.get_fact(PamPolicy), {}, min_length))
    for name, content in profiles.items():
        stale = _differs(f"{PAM_CONFIGS}/{name}", content) or stale
        yield from files.put._inner(
            src=StringIO(content), dest=f"{PAM_CONFIGS}/{name}", mode="0644"
        )
    if stale:
        yield StringCommand(
            "pam-auth-update --package --enable",
            *profiles,
            "&& grep -q 'pam_faillock.so preauth' /etc/pam.d/common-auth || { echo"
            " 'pam-auth-update left /etc/pam.d as it is (edited locally?): review it, then run"
            " pam-auth-update --force' >&2; exit 1; }",
        )


@operation()
def time_sync(servers: Iterable[str]):
    """
    The clock follows NTP: chrony where it is installed, else systemd-timesyncd (installed,
    ``NTP=`` servers in a drop-in, enabled and running). Not for containers: their clock is
    the host's.

    + servers: NTP server names or addresses

    **Example:**

    .. code:: python

        os_baseline.time_sync(name="Time sync", servers=["ntp.internal"])
    """
    if host.get_fact(File, path="/usr/sbin/chronyd"):
        yield from systemd.service._inner(service="chrony", running=True, enabled=True)
        return
    yield from apt.packages._inner(packages=["systemd-timesyncd"])
    content = HEADER + "[Time]\nNTP=" + " ".join(servers) + "\n"
    changed = _differs(TIMESYNCD_DROP_IN, content)
    yield from files.directory._inner(path=TIMESYNCD_DROP_IN.rsplit("/", 1)[0])
    yield from files.put._inner(src=StringIO(content), dest=TIMESYNCD_DROP_IN, mode="0644")
    yield from systemd.service._inner(
        service="systemd-timesyncd", running=True, enabled=True, restarted=changed
    )
