"""Benchmark: audit wall time and SSH round trips per host, batched vs one command per fact.

Boots its own testbed beds (1, 4 and 8 hosts by default; prefix ``hbbench``), runs the
audit alternately batched and unbatched on the same hosts (several rounds, medians), and
prints a Markdown table with ratios. Absolute times are context only: the machine is noisy.

    python3 bench/audit.py [--hosts 1 4 8] [--rounds 3] [--json bench/results/audit.json]

Needs root (network namespaces), like the testbed. Not a test: no timing assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _bed_env(hosts: int) -> dict[str, str]:
    """Bed of ``hosts`` hosts: prefix ``hbbench<N>``, subnets 10.77.151+, state
    /run/hardening-bench-<N>; ``HARDENING_BENCH_PREFIX``, ``HARDENING_BENCH_NET_OFFSET`` and
    ``HARDENING_BENCH_STATE`` move it (e.g. to a test slot's own range)."""
    prefix = os.environ.get("HARDENING_BENCH_PREFIX", "hbbench")
    state = os.environ.get("HARDENING_BENCH_STATE", "/run/hardening-bench")
    return {
        "HARDENING_TESTBED_PREFIX": f"{prefix}{hosts}",
        "HARDENING_TESTBED_NET_OFFSET": os.environ.get("HARDENING_BENCH_NET_OFFSET", "150"),
        "HARDENING_TESTBED_STATE": f"{state}-{hosts}",
    }


def measure(hosts: int, rounds: int) -> dict:
    from gevent import monkey

    monkey.patch_all()
    from hardening import testbed
    from hardening.audit import run_audit

    os.environ.update(_bed_env(hosts))
    config = testbed.BedConfig.from_env()
    testbed.up(hosts, "services", config)
    try:
        os.chdir(ROOT)
        timings: dict[bool, list[float]] = {True: [], False: []}
        trips: dict[bool, float] = {}
        for _ in range(rounds):
            for batch in (True, False):
                started = time.perf_counter()
                report = run_audit("inventories/testbed.py", progress=None, batch=batch)
                timings[batch].append(time.perf_counter() - started)
                trips[batch] = statistics.mean(s["round_trips"] for s in report.stats.values())
        return {
            "hosts": hosts,
            "batched_s": statistics.median(timings[True]),
            "unbatched_s": statistics.median(timings[False]),
            "batched_round_trips_per_host": trips[True],
            "unbatched_round_trips_per_host": trips[False],
            "facts_per_host": statistics.mean(s["facts"] for s in report.stats.values()),
        }
    finally:
        testbed.down(config)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    rows = [measure(count, args.rounds) for count in args.hosts]
    one = rows[0]["batched_s"]
    print(
        "| hosts | facts/host | batched s | unbatched s | unbatched/batched | round trips/host "
        "(batched / unbatched) | batched vs 1 host |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['hosts']} | {row['facts_per_host']:.0f} | {row['batched_s']:.2f} "
            f"| {row['unbatched_s']:.2f} | {row['unbatched_s'] / row['batched_s']:.2f}x "
            f"| {row['batched_round_trips_per_host']:.0f} / "
            f"{row['unbatched_round_trips_per_host']:.0f} "
            f"| {row['batched_s'] / one:.2f}x |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
