"""Benchmark: `pyinfra inventories/testbed.py deploys/harden.py` first run and idempotent rerun.

Boots its own bed per size (prefix ``hbbenchh``), times the first harden and the rerun,
and counts changed operations on the rerun (must be 0) and SSH commands per host
(from pyinfra's debug output). Prints a Markdown table; no timing assertions anywhere.

    python3 bench/harden.py [--hosts 1 4] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.harden_helpers import pyinfra_changes  # noqa: E402

_COMMAND_LINE = re.compile(r"\[(?P<host>[^\]]+)\] >>> ")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STARTING = re.compile(r"Starting\b[^:]*operation: (?P<name>.+)$")
_CHANGED = re.compile(r"^\s*\[(?P<host>[^\]]+)\] Success")


def run_harden(env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyinfra",
            "-y",
            "-vv",
            "inventories/testbed.py",
            "deploys/harden.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return time.perf_counter() - started, done


def commands_per_host(done: subprocess.CompletedProcess) -> float:
    """Shell commands pyinfra sent, per host (``[host] >>> command`` lines at -vv)."""
    counts: dict[str, int] = {}
    for match in _COMMAND_LINE.finditer(done.stdout + done.stderr):
        counts[match.group("host")] = counts.get(match.group("host"), 0) + 1
    return sum(counts.values()) / max(len(counts), 1)


def changed_operations(done: subprocess.CompletedProcess) -> list[str]:
    """``host: operation`` for every operation that changed something (pyinfra -vv output)."""
    current, changed = "", []
    for line in _ANSI.sub("", done.stdout + done.stderr).splitlines():
        if match := _STARTING.search(line):
            current = match.group("name").strip()
        elif match := _CHANGED.match(line):
            changed.append(f"{match.group('host')}: {current}")
    return changed


def measure(hosts: int, bed: dict[str, str] | None = None) -> dict:
    """First run and rerun of ``deploys/harden.py`` on a fresh bed (``bed``: its testbed env)."""
    from hardening import testbed

    env = {
        **os.environ,
        **(
            bed
            or {
                "HARDENING_TESTBED_PREFIX": f"hbbenchh{hosts}",
                "HARDENING_TESTBED_NET_OFFSET": "160",
                "HARDENING_TESTBED_STATE": f"/run/hardening-bench-harden-{hosts}",
            }
        ),
    }
    config = testbed.BedConfig.from_env(env)
    testbed.up(hosts, "services", config)
    try:
        first_s, first = run_harden(env)
        if first.returncode != 0:
            raise SystemExit(f"harden failed on {hosts} host(s):\n{first.stderr[-2000:]}")
        rerun_s, rerun = run_harden(env)
        return {
            "hosts": hosts,
            "first_s": first_s,
            "rerun_s": rerun_s,
            "first_changes": pyinfra_changes(first),
            "rerun_changes": pyinfra_changes(rerun),
            "rerun_changed_operations": changed_operations(rerun),
            "first_commands_per_host": commands_per_host(first),
            "rerun_commands_per_host": commands_per_host(rerun),
        }
    finally:
        testbed.down(config)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = [measure(count) for count in args.hosts]
    print(
        "| hosts | first run s | rerun s | rerun/first | changes first / rerun "
        "| SSH commands per host first / rerun |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['hosts']} | {row['first_s']:.1f} | {row['rerun_s']:.1f} "
            f"| {row['rerun_s'] / row['first_s']:.2f}x | {row['first_changes']} / "
            f"{row['rerun_changes']} | {row['first_commands_per_host']:.0f} / "
            f"{row['rerun_commands_per_host']:.0f} |"
        )
    for row in rows:
        for operation in row["rerun_changed_operations"]:
            print(f"changed on rerun ({row['hosts']} host(s)): {operation}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
