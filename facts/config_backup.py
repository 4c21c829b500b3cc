"""Configuration backup facts (DR-BAK-03).

Installed as ``hardening.facts.config_backup``. Lists archives by name, size and time;
never reads them (they hold /etc, secrets included).
"""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase, StringCommand

CONFIG_FILE = "/etc/hardening/config-backup.conf"
DEFAULT_DESTINATION = "/var/backups/hardening-config"


class ConfigBackups(FactBase):
    """
    The configuration backup policy (``/etc/hardening/config-backup.conf``) and the archives
    in its destination, oldest first.

    .. code:: python

        {"configured": True, "destination": "/var/backups/hardening-config",
         "keep_weeks": 12, "paths": ["/etc", "/usr/local/lib/hardening"],
         "destination_mode": "700",
         "archives": [{"name": "config-web1-20240101T010000Z.tar.gz", "time": 1704070800.0,
                       "size": 123456}]}
    """

    @staticmethod
    def default() -> dict:
        return {
            "configured": False,
            "destination": "",
            "keep_weeks": None,
            "paths": [],
            "destination_mode": "",
            "archives": [],
        }

    def command(self, config: str = CONFIG_FILE) -> StringCommand:
        return StringCommand(
            f"c={shlex.quote(config)};",
            'if [ -f "$c" ]; then echo "#configured"; grep -E',
            "'^(DESTINATION|KEEP_WEEKS|PATHS)='",
            '"$c"; d=$(sed -n "s/^DESTINATION=//p" "$c");',
            f"else d={DEFAULT_DESTINATION}; fi;",
            'if [ -d "$d" ]; then echo "#mode=$(stat -c %a "$d")";',
            "find \"$d\" -maxdepth 1 -name 'config-*.tar.gz' -printf '#archive=%f|%T@|%s\\n';",
            "fi; echo '#end'",
        )

    def process(self, output: list[str]) -> dict:
        fact = self.default()
        fact["configured"] = "#configured" in output
        for line in output:
            key, _, value = line.partition("=")
            if key == "DESTINATION":
                fact["destination"] = value
            elif key == "KEEP_WEEKS" and value.isdigit():
                fact["keep_weeks"] = int(value)
            elif key == "PATHS":
                fact["paths"] = value.strip('"').split()
            elif key == "#mode":
                fact["destination_mode"] = value
            elif key == "#archive":
                name, stamp, size = value.rsplit("|", 2)
                fact["archives"].append({"name": name, "time": float(stamp), "size": int(size)})
        fact["archives"].sort(key=lambda archive: archive["time"])
        return fact
