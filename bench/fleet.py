"""Benchmark: control-node cost of an audit at 100 and 1000 simulated hosts.

Records the batched fact output of one real testbed host, then audits fleets of
pyinfra ``@fake`` hosts that replay it (with a small simulated network delay), and
prints wall time and peak memory of the audit process per fleet size, with the
growth ratio. Target from issue 11: under 2 GiB at 1000 hosts.

    python3 bench/fleet.py [--sizes 100 1000] [--delay 0.02] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = "@@hardening-fleetbench"


def record_one_host() -> list[str]:
    """Batched fact output of a real `services` testbed host (tb1: every group)."""
    from gevent import monkey

    monkey.patch_all()
    from hardening import testbed
    from hardening.audit import planned_facts
    from hardening.batch import fact_script
    from hardening.catalog import CATALOG
    from hardening.checks import HostContext, registry

    os.environ.update(
        HARDENING_TESTBED_PREFIX="hbfleet",
        HARDENING_TESTBED_NET_OFFSET="146",  # 10.77.147: free in bench/ and test slot 6
        HARDENING_TESTBED_STATE="/run/hardening-bench-fleet",
    )
    config = testbed.BedConfig.from_env()
    bed = testbed.up(1, "services", config)
    try:
        host = bed.hosts[0]
        context = HostContext(host.name, tuple(host.groups), {}, lambda *a, **k: None)
        requests = planned_facts(context, CATALOG, registry())
        return bed.run(host, fact_script(requests, MARKER)).splitlines()
    finally:
        testbed.down(config)


def fleet_inventory(size: int, recording: list[str], delay: float, directory: Path) -> Path:
    path = directory / f"fleet{size}.py"
    host_data = {"fake_responses": {MARKER: recording}, "fake_delay": delay, "fake_delay_jitter": 0}
    path.write_text(
        f"_DATA = {host_data!r}\n"
        f"web = [(f'@fake/host{{i}}', _DATA) for i in range({size})]\n"
        "db_primary = web\ncache = web\nmonitoring = web\n"
    )
    return path


def audit_cost(inventory: Path) -> dict:
    env = {**os.environ, "HARDENING_BATCH_MARKER": MARKER}
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hardening",
            "audit",
            str(inventory),
            "-q",
            "--format",
            "json",
            "-o",
            os.devnull,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode == 2:
        raise SystemExit(f"audit failed: {done.stderr[-500:]}")
    return {"wall_s": wall, "peak_mib": max(peak_kib, before) / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--delay", type=float, default=0.02, help="simulated seconds per command")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    recording = record_one_host()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            cost = audit_cost(fleet_inventory(size, recording, args.delay, Path(tmp)))
            rows.append({"hosts": size, **cost})
    print("| simulated hosts | wall s | peak MiB | wall per host ms |")
    print("|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['hosts']} | {row['wall_s']:.1f} | {row['peak_mib']:.0f} "
            f"| {row['wall_s'] / row['hosts'] * 1000:.1f} |"
        )
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        hosts_ratio = last["hosts"] // first["hosts"]
        print(
            f"\n{hosts_ratio}x the hosts: {last['wall_s'] / first['wall_s']:.1f}x the time, "
            f"{last['peak_mib'] / first['peak_mib']:.1f}x the memory"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
