"""OS baseline and scheduled security job results. Installed as ``hardening.facts.security``."""

from __future__ import annotations

import json

from pyinfra.api import FactBase, StringCommand

LOGIN_DEFS_KEYS = ("PASS_MAX_DAYS", "PASS_MIN_DAYS", "PASS_WARN_AGE", "UMASK")


class JobReport(FactBase):
    """
    The newest JSON report a scheduled job wrote (``path`` is a shell glob), with its
    modification time. Reports hold counts and findings, never secrets.

    .. code:: python

        {"present": True, "path": "/var/lib/hardening/updates/last.json",
         "mtime": 1704070800.0, "data": {"security_updates": ["openssl"], ...}}

    ``{"present": False}`` when no file matches; ``data`` is ``None`` if it is not JSON.
    """

    @staticmethod
    def default() -> dict:
        return {"present": False}

    def command(self, path: str) -> StringCommand:
        # the glob must expand: ``path`` comes from hardening.security_jobs, not from users
        return StringCommand(
            f"f=$(ls -1t {path} 2>/dev/null | head -n1);",
            'if [ -n "$f" ]; then echo "#file=$(stat -c %Y "$f") $f"; head -c 200000 "$f"; echo;',
            "else echo '#absent'; fi",
        )

    def process(self, output: list[str]) -> dict:
        if not output or not output[0].startswith("#file="):
            return self.default()
        mtime, _, path = output[0][len("#file=") :].partition(" ")
        try:
            data = json.loads("\n".join(output[1:]))
        except ValueError:
            data = None
        return {"present": True, "path": path, "mtime": float(mtime), "data": data}


class UnattendedUpgrades(FactBase):
    """
    unattended-upgrades: installed, the origins it may upgrade from and the APT::Periodic
    switches that run it (``apt-config dump``).

    .. code:: python

        {"installed": True,
         "origins": ["origin=Debian,codename=${distro_codename}-security,label=Debian-Security"],
         "update_lists": "1", "upgrade": "1"}
    """

    @staticmethod
    def default() -> dict:
        return {"installed": False, "origins": [], "update_lists": "", "upgrade": ""}

    def command(self) -> str:
        return (
            "echo status:$(dpkg-query -W -f='${Status}' unattended-upgrades 2>/dev/null);"
            "apt-config dump 2>/dev/null | grep -E "
            "'^(Unattended-Upgrade::Origins-Pattern::|APT::Periodic::(Unattended-Upgrade|"
            "Update-Package-Lists)) ' || true"
        )

    def process(self, output: list[str]) -> dict:
        fact = self.default()
        for line in output:
            if line.startswith("status:"):
                fact["installed"] = line.endswith("install ok installed")
                continue
            key, _, value = line.partition(" ")
            value = value.strip().rstrip(";").strip('"')
            if key == "Unattended-Upgrade::Origins-Pattern::":
                fact["origins"].append(value)
            elif key == "APT::Periodic::Unattended-Upgrade":
                fact["upgrade"] = value
            elif key == "APT::Periodic::Update-Package-Lists":
                fact["update_lists"] = value
        return fact


class OsBaseline(FactBase):
    """
    Core dump limits (``*`` and ``root``: pam_limits never applies ``*`` to root),
    password aging and journal settings as the host applies them (the last
    value of each key wins, as in the programs that read them).

    .. code:: python

        {"core_hard_limits": {"*": "0", "root": "0"}, "coredump_storage": "none",
         "journald_storage": "persistent", "journal_dir": True,
         "login_defs": {"PASS_MAX_DAYS": "60", "PASS_MIN_DAYS": "7", "PASS_WARN_AGE": "7",
                        "UMASK": "027"}}
    """

    @staticmethod
    def default() -> dict:
        return {
            "core_hard_limits": {},
            "coredump_storage": None,
            "journald_storage": None,
            "journal_dir": False,
            "login_defs": {},
        }

    def command(self) -> str:
        keys = "|".join(LOGIN_DEFS_KEYS)
        return (
            "cat /etc/security/limits.conf /etc/security/limits.d/*.conf 2>/dev/null"
            ' | awk \'($1=="*" || $1=="root") && $2=="hard" && $3=="core"'
            ' {print "core." $1 "=" $4}\';'
            "systemd-analyze cat-config systemd/coredump.conf 2>/dev/null"
            " | sed -n 's/^Storage=/coredump_storage=/p';"
            "systemd-analyze cat-config systemd/journald.conf 2>/dev/null"
            " | sed -n 's/^Storage=/journald_storage=/p';"
            "[ -d /var/log/journal ] && echo journal_dir=yes;"
            f"grep -E '^({keys})[[:space:]]' /etc/login.defs"
            ' | awk \'{print "login." $1 "=" $2}\';'
            "echo '#end'"
        )

    def process(self, output: list[str]) -> dict:
        fact = self.default()
        for line in output:
            key, _, value = line.partition("=")
            if key.startswith("login."):
                fact["login_defs"][key[len("login.") :]] = value
            elif key.startswith("core."):
                fact["core_hard_limits"][key[len("core.") :]] = value
            elif key == "journal_dir":
                fact["journal_dir"] = True
            elif key in fact:
                fact[key] = value
        return fact


class KernelModules(FactBase):
    """
    ``install``/``blacklist`` lines of the modprobe configuration (``modprobe`` is not always
    installed, so the files are read) and the loaded modules (``None`` without
    ``/proc/modules``, as in a container). Names use ``-`` for ``_``.

    .. code:: python

        {"install": {"cramfs": "/bin/false"}, "blacklist": ["cramfs"], "loaded": ["ext4"]}
    """

    @staticmethod
    def default() -> dict:
        return {"install": {}, "blacklist": [], "loaded": None}

    def command(self) -> str:
        return (
            "cat /lib/modprobe.d/*.conf /usr/lib/modprobe.d/*.conf /etc/modprobe.d/*.conf"
            " /run/modprobe.d/*.conf 2>/dev/null | grep -E '^[[:space:]]*(install|blacklist)"
            "[[:space:]]' || true;"
            "if [ -r /proc/modules ]; then echo '#loaded'; cut -d' ' -f1 /proc/modules;"
            " else echo '#no-proc-modules'; fi"
        )

    def process(self, output: list[str]) -> dict:
        fact = self.default()
        for line in output:
            words = line.split()
            if line == "#loaded":
                fact["loaded"] = []
            elif fact["loaded"] is not None and words:
                fact["loaded"].append(words[0].replace("_", "-"))
            elif len(words) >= 2 and words[0] == "install":
                fact["install"][words[1].replace("_", "-")] = " ".join(words[2:])
            elif len(words) == 2 and words[0] == "blacklist":
                fact["blacklist"].append(words[1].replace("_", "-"))
        return fact


class FilePermissions(FactBase):
    """
    Mode, owner and group of the paths the shell globs match (missing paths are left out).

    .. code:: python

        {"/etc/shadow": {"mode": 0o640, "user": "root", "group": "shadow"}}
    """

    @staticmethod
    def default() -> dict:
        return {}

    def command(self, globs: tuple[str, ...]) -> str:
        # globs come from hardening.security_policy.SENSITIVE_PATHS, not from users
        return f"stat -c '%a %U %G %n' {' '.join(globs)} 2>/dev/null; echo '#end'"

    def process(self, output: list[str]) -> dict:
        fact = {}
        for line in output:
            mode, user, group, path = ([*line.split(" ", 3), "", "", ""])[:4]
            if path and mode.isdigit():
                fact[path] = {"mode": int(mode, 8), "user": user, "group": group}
        return fact


class PamPolicy(FactBase):
    """
    The PAM stack's ``pam_faillock`` / ``pam_unix`` / ``pam_pwquality`` lines of
    ``common-auth``, ``common-account`` and ``common-password``, the keys set in
    ``/etc/security/faillock.conf`` and whether libpam-pwquality is installed.

    .. code:: python

        {"stack": {"auth": ["requisite pam_faillock.so preauth", ...],
                   "account": [...], "password": ["[success=1 default=ignore] pam_unix.so ..."]},
         "faillock": {"deny": "5", "unlock_time": "900"}, "pwquality": False}
    """

    @staticmethod
    def default() -> dict:
        return {"stack": {"auth": [], "account": [], "password": []}, "faillock": {},
                "pwquality": False}  # fmt: skip

    def command(self) -> str:
        return (
            "cd /etc/pam.d && grep -H -E '^[^#]*pam_(faillock|unix|pwquality)\\.so'"
            " common-auth common-account common-password 2>/dev/null;"
            "grep -E '^[[:space:]]*[a-z_]+[[:space:]]*(=|$)' /etc/security/faillock.conf"
            " 2>/dev/null | sed 's/^/faillock.conf:/';"
            "echo pwquality:$(dpkg-query -W -f='${Status}' libpam-pwquality 2>/dev/null)"
        )

    def process(self, output: list[str]) -> dict:
        fact = self.default()
        for line in output:
            source, _, value = line.partition(":")
            if source.startswith("common-") and source[7:] in fact["stack"]:
                fact["stack"][source[7:]].append(" ".join(value.split()[1:]))
            elif source == "faillock.conf":
                key, _, setting = value.partition("=")
                fact["faillock"][key.strip()] = setting.strip()
            elif source == "pwquality":
                fact["pwquality"] = value.endswith("install ok installed")
        return fact


class TimeSync(FactBase):
    """
    NTP clients' state and whether the clock is synchronised. Read without ``timedatectl``:
    that asks systemd-timedated over D-Bus, which starts the service, and an audit must
    change nothing. timesyncd marks sync with ``/run/systemd/timesync/synchronized``;
    chrony answers ``chronyc -n tracking`` (Leap status Normal) only when it runs.

    .. code:: python

        {"timesyncd": "active", "chrony": "inactive", "synchronized": True,
         "servers": ["0.debian.pool.ntp.org"]}
    """

    @staticmethod
    def default() -> dict:
        return {"timesyncd": "", "chrony": "", "synchronized": False, "servers": []}

    def command(self) -> str:
        return (
            "echo timesyncd:$(systemctl is-active systemd-timesyncd 2>/dev/null);"
            "echo chrony:$(systemctl is-active chrony 2>/dev/null);"
            "if [ -e /run/systemd/timesync/synchronized ]"
            " || chronyc -n tracking 2>/dev/null | grep -q '^Leap status *: Normal';"
            " then echo synchronized:yes; else echo synchronized:no; fi;"
            "echo servers:$(systemd-analyze cat-config systemd/timesyncd.conf 2>/dev/null"
            " | sed -n 's/^NTP=//p' | tail -n1)"
        )

    def process(self, output: list[str]) -> dict:
        fact = self.default()
        for line in output:
            key, _, value = line.partition(":")
            if key in ("timesyncd", "chrony"):
                fact[key] = value
            elif key == "synchronized":
                fact["synchronized"] = value == "yes"
            elif key == "servers":
                fact["servers"] = value.split()
        return fact
