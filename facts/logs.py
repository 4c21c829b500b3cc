"""Log forwarding, central log storage, retention and error review facts.

Installed as ``hardening.facts.logs``. Read-only: the audit never sends a marker (that
is a write to the logs); ``hardening-log-marker.timer`` on every host sends one hourly
and the central log host stores it with its arrival time, which ``CentralLogs`` reads.
Only counts and timestamps leave the host, never a log message.
"""

from __future__ import annotations

import json
import re
import shlex
from datetime import datetime
from importlib.resources import files

from pyinfra.api import FactBase, StringCommand
from pyinfra.api.command import QuoteString

from hardening.facts.pgbackrest import BackupTimers

CENTRAL_ROOT = "/var/log/hardening-central"
STATE_DIR = "/var/lib/hardening/logs"
MARKER_TAG = "hardening-log-marker"
#: The systemd timers the logs deploy installs.
LOG_TIMERS = ("hardening-log-marker", "hardening-log-review", "hardening-config-backup")
#: The journal counting program shared by the review timer and ``JournalCounts``.
REVIEW_PROGRAM = (
    files("hardening.operations") / "templates" / "hardening-log-review.py"
).read_text()

_ACTION = re.compile(r'type="(omrelp|omfwd)"')
_RECEIVER = re.compile(r'input\(\s*type="(imrelp|imtcp)"[^)]*port="(\d+)"')
_IMFILE = re.compile(r'input\(\s*type="imfile"[^)]*File="([^"]+)"[^)]*Tag="([^":]+):?"')
_OPTION = re.compile(r'(?<![\w.])(target|port|protocol|tls)="([^"]*)"')


class LogForwarding(FactBase):
    """
    rsyslog's forwarding as configured (``/etc/rsyslog.conf``, ``/etc/rsyslog.d/*.conf``).

    .. code:: python

        {"rsyslog_active": True,
         "forwards": [{"type": "omrelp", "target": "10.0.0.5", "port": 2514,
                       "protocol": "relp", "tls": True}],
         "files": [{"path": "/var/log/nginx/*.log", "tag": "nginx"}],
         "receivers": [{"type": "imrelp", "port": 2514, "tls": True}],
         "last_marker_sent": 1704070800.5}
    """

    @staticmethod
    def default() -> dict:
        return {
            "rsyslog_active": False,
            "forwards": [],
            "files": [],
            "receivers": [],
            "last_marker_sent": None,
        }

    def command(self) -> StringCommand:
        return StringCommand(
            'echo "#active=$(systemctl is-active rsyslog 2>/dev/null)";',
            "cat /etc/rsyslog.conf /etc/rsyslog.d/*.conf 2>/dev/null | grep -v '^[[:space:]]*#'",
            "| tr '\\n' ' ' | sed 's/action(/\\naction(/g; s/input(/\\ninput(/g'; echo;",
            f'echo "#marker=$(cat {STATE_DIR}/forwarding.json 2>/dev/null)"',
        )

    def process(self, output: list[str]) -> dict:
        fact = self.default()
        for line in output:
            if line.startswith("#active="):
                fact["rsyslog_active"] = line == "#active=active"
            elif line.startswith("#marker="):
                fact["last_marker_sent"] = _marker_sent(line[len("#marker=") :])
            elif line.startswith("action(") and _ACTION.search(line):
                options = dict(_OPTION.findall(line.split(")", 1)[0]))
                kind = _ACTION.search(line).group(1)
                fact["forwards"].append(
                    {
                        "type": kind,
                        "target": options.get("target", ""),
                        "port": int(options.get("port") or 514),
                        "protocol": "relp" if kind == "omrelp" else options.get("protocol", "udp"),
                        "tls": options.get("tls") == "on",
                    }
                )
            elif match := _RECEIVER.match(line):
                tls = dict(_OPTION.findall(line)).get("tls") == "on"
                fact["receivers"].append(
                    {"type": match.group(1), "port": int(match.group(2)), "tls": tls}
                )
            elif match := _IMFILE.match(line):
                fact["files"].append({"path": match.group(1), "tag": match.group(2)})
        return fact


def _marker_sent(text: str) -> float | None:
    try:
        return float(json.loads(text)["sent"])
    except (ValueError, KeyError, TypeError):
        return None


class CentralLogs(FactBase):
    """
    What the central log host holds: per sending host its log files and its newest marker
    (sent time from the marker, arrival time from the line's timestamp).

    .. code:: python

        {"exists": True,
         "hosts": {"web1": {"files": ["auth.log", "nginx.log", "hardening-log-marker.log"],
                            "marker_sent": 1704070800.5, "marker_received": 1704070800.9}}}
    """

    @staticmethod
    def default() -> dict:
        return {"exists": False, "hosts": {}}

    def command(self, root: str = CENTRAL_ROOT) -> StringCommand:
        return StringCommand(
            f'r={shlex.quote(root)}; if [ -d "$r" ]; then echo \'#exists\'; for d in "$r"/*/;',
            'do [ -d "$d" ] || continue; echo "#host=$(basename "$d")";',
            'for f in "$d"*.log; do [ -f "$f" ] && echo "#file=$(basename "$f")"; done;',
            f'tail -n 1 "${{d}}{MARKER_TAG}.log" 2>/dev/null; done; fi; echo "#end"',
        )

    def process(self, output: list[str]) -> dict:
        fact = self.default()
        fact["exists"] = "#exists" in output
        current: dict = {}
        for line in output:
            if line.startswith("#host="):
                current = {"files": [], "marker_sent": None, "marker_received": None}
                fact["hosts"][line[len("#host=") :]] = current
            elif line.startswith("#file=") and current:
                current["files"].append(line[len("#file=") :])
            elif current and f" {MARKER_TAG}" in line and "sent=" in line:
                current["marker_received"] = _rfc3339(line.split(" ", 1)[0])
                current["marker_sent"] = _float(line.rsplit("sent=", 1)[1])
        return fact


def _rfc3339(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _float(text: str) -> float | None:
    try:
        return float(text.strip().split()[0])
    except (ValueError, IndexError):
        return None


class LogRotation(FactBase):
    """
    The directives of one logrotate file, per block of paths.

    .. code:: python

        [{"paths": ["/var/log/hardening-central/*/*.log"], "frequency": "daily",
          "rotate": 30, "maxage": 30, "compress": True}]

    Empty when the file does not exist.
    """

    default = list

    def command(self, path: str = "/etc/logrotate.d/hardening-central") -> StringCommand:
        return StringCommand("cat", QuoteString(path), "2>/dev/null; echo '#end'")

    def process(self, output: list[str]) -> list[dict]:
        blocks: list[dict] = []
        block: dict | None = None
        for raw in output:
            line = raw.split("#", 1)[0].strip()
            if line.endswith("{"):
                block = {
                    "paths": line[:-1].split(),
                    "frequency": "",
                    "rotate": None,
                    "maxage": None,
                    "compress": False,
                }
                blocks.append(block)
            elif line == "}":
                block = None
            elif block is not None and line:
                words = line.split()
                if words[0] in ("daily", "weekly", "monthly", "yearly", "hourly"):
                    block["frequency"] = words[0]
                elif words[0] in ("rotate", "maxage") and len(words) > 1 and words[1].isdigit():
                    block[words[0]] = int(words[1])
                elif words[0] == "compress":
                    block["compress"] = True
        return blocks


class LogReview(FactBase):
    """
    The newest daily error review (``/var/lib/hardening/logs/review-<date>.json``).

    .. code:: python

        {"exists": True, "file": "review-2024-01-01.json", "generated": 1704070800.0,
         "since": "-24h", "truncated": False,
         "units": {"nginx.service": {"err": 0, "warning": 2}}}
    """

    @staticmethod
    def default() -> dict:
        return {"exists": False}

    def command(self, directory: str = STATE_DIR) -> StringCommand:
        return StringCommand(
            f"d={shlex.quote(directory)};",
            "f=$(ls -1 \"$d\" 2>/dev/null | grep -E '^review-[0-9-]+[.]json$' | sort | tail -n 1);",
            'if [ -n "$f" ]; then echo "#file=$f"; head -c 1000000 "$d/$f"; echo; fi; echo "#end"',
        )

    def process(self, output: list[str]) -> dict:
        name = next((line[6:] for line in output if line.startswith("#file=")), "")
        if not name:
            return self.default()
        text = "\n".join(line for line in output if not line.startswith("#"))
        try:
            review = json.loads(text)
        except ValueError:
            return {"exists": True, "file": name, "error": "review file is not JSON"}
        return {"exists": True, "file": name, **review}


class JournalCounts(FactBase):
    """
    Live warning and error counts per unit in the journal since ``since`` (bounded).

    .. code:: python

        {"since": "-1h", "generated": 1704070800.0, "truncated": False,
         "units": {"nginx.service": {"err": 1, "warning": 0}}}
    """

    @staticmethod
    def default() -> dict:
        return {"since": "", "units": {}, "error": "journal not readable"}

    def requires_command(self, since: str = "-1h") -> str:
        return "python3"

    def command(self, since: str = "-1h") -> StringCommand:
        return StringCommand("python3 -c", QuoteString(REVIEW_PROGRAM), QuoteString(since))

    def process(self, output: list[str]) -> dict:
        try:
            return json.loads(output[-1])
        except (ValueError, IndexError):
            return self.default()


class LogTimers(BackupTimers):
    """
    State of the logs and configuration backup timers (same shape as ``BackupTimers``).

    .. code:: python

        {"hardening-log-review": {"enabled": True, "active": True, "calendar": "*-*-* 06:30",
                                  "last_trigger": 1704070800.0, "next_elapse": 1704157200.0}}
    """

    timers = LOG_TIMERS
