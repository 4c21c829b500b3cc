"""Helpers shared by integration tests: pyinfra result parsing, host snapshots."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

#: Everything an audit must leave untouched, as one checksum line per aspect.
SNAPSHOT_COMMAND = r"""
echo etc:$(find /etc -xdev -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum)
echo packages:$(dpkg-query -W | sha256sum)
echo units:$(systemctl list-units --all --no-legend --plain | awk '{print $1, $3, $4}' | sort | sha256sum)
echo nft:$(nft list ruleset | sha256sum)
echo roles:$(runuser -u postgres -- psql -XAtc 'SELECT rolname, rolpassword FROM pg_authid ORDER BY 1' | sha256sum)
echo hardening:$(find /etc/hardening /var/lib/hardening -type f 2>/dev/null | sort | xargs -r sha256sum | sha256sum)
"""


def snapshot(bed, host: str) -> dict[str, str]:
    """Checksums of /etc, packages, units, nftables, PostgreSQL roles of one host."""
    lines = bed.run(host, SNAPSHOT_COMMAND).splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line)


_GRAND_TOTAL = re.compile(r"Grand total\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)")


def pyinfra_changes(done: subprocess.CompletedProcess) -> int:
    """Number of operations that changed something, from pyinfra's results table."""
    output = done.stdout + done.stderr
    match = _GRAND_TOTAL.search(output)
    assert match, f"no results table in pyinfra output:\n{output[-2000:]}"
    changed = match.group(2)
    return 0 if changed == "-" else int(changed)


def audit_json(bed, tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    """Run `hardening audit --format json` against the bed; return the process and the report."""
    out = tmp_path / "report.json"
    done = bed.hardening("audit", bed.inventory, "--format", "json", "-o", str(out), *extra)
    assert out.exists(), done.stderr
    return done, json.loads(out.read_text())


def statuses(report: dict) -> dict[tuple[str, str], str]:
    """``{(host, item id): status}`` of a JSON report."""
    return {(r["host"], r["item_id"]): r["status"] for r in report["results"]}


def evidence(report: dict, host: str, item_id: str) -> str:
    for result in report["results"]:
        if (result["host"], result["item_id"]) == (host, item_id):
            return result["evidence"]
    raise KeyError((host, item_id))
