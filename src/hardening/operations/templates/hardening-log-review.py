"""Count warning and error lines per unit in the journal (hardening, OPS-D-02 / DEP-02).

Usage: hardening-log-review SINCE [OUTPUT]. Reads ``journalctl -p warning --since SINCE
-o json`` (at most MAX lines), prints ``{"since", "generated", "truncated", "units":
{unit: {"err": n, "warning": m}}}`` and, with OUTPUT, writes it there (0644).
Only counts leave the host, never a log message.
"""

import json
import os
import subprocess
import sys
import time

MAX = 200000


def review(since):
    units = {}
    lines = 0
    command = ["journalctl", "-q", "--no-pager", "-p", "warning", "--since", since, "-o", "json"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        for raw in proc.stdout:
            lines += 1
            if lines > MAX:
                proc.kill()
                break
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            unit = entry.get("_SYSTEMD_UNIT") or entry.get("SYSLOG_IDENTIFIER") or "unknown"
            level = "err" if int(entry.get("PRIORITY", 4)) <= 3 else "warning"
            counts = units.setdefault(unit, {"err": 0, "warning": 0})
            counts[level] += 1
    return {"since": since, "generated": time.time(), "truncated": lines > MAX, "units": units}


if __name__ == "__main__":
    result = review(sys.argv[1] if len(sys.argv) > 1 else "-24h")
    text = json.dumps(result, sort_keys=True)
    if len(sys.argv) > 2:
        os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True)
        with open(sys.argv[2] + ".tmp", "w", encoding="utf-8") as out:
            out.write(text + "\n")
        os.replace(sys.argv[2] + ".tmp", sys.argv[2])
    print(text)
