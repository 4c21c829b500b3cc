"""Benchmark: harden time of the host baseline (OS baseline + SSH + firewall + scheduled
security jobs) on 1 and 4 fresh testbed hosts, first run and idempotent rerun (which must
change nothing), SSH commands issued per host, and Lynis' hardening index before / after.

    python3 bench/baseline.py [--sizes 1 4] [--json FILE]

Beds use HARDENING_TESTBED_PREFIX=hbxb, NET_OFFSET=236, STATE=/run/hbxb (not the default bed).
SSH commands are counted by wrapping pyinfra's SSH connector (``run_shell_command`` and
``put_file`` per host), printed by the wrapped pyinfra at exit.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INVENTORY = ROOT / "inventories" / "testbed.py"
BED_ENV = {
    "HARDENING_TESTBED_PREFIX": "hbxb",
    "HARDENING_TESTBED_NET_OFFSET": "236",
    "HARDENING_TESTBED_STATE": "/run/hbxb",
}
DEPLOY = """\
from hardening.deploys.firewall import firewall
from hardening.deploys.os_baseline import os_baseline, security_jobs
from hardening.deploys.ssh import ssh_hardening

os_baseline()
ssh_hardening()
firewall()
security_jobs()
"""
#: pyinfra, with every SSH command and upload counted per host (printed at exit).
COUNTING_PYINFRA = """\
import pyinfra_cli  # gevent patches first, as in the pyinfra command
import atexit, collections, sys
from pyinfra.connectors.ssh import SSHConnector
counts = collections.Counter()
def counted(name):
    original = getattr(SSHConnector, name)
    def wrapper(self, *args, **kwargs):
        counts[(self.host.name, name)] += 1
        return original(self, *args, **kwargs)
    setattr(SSHConnector, name, wrapper)
counted("run_shell_command"); counted("put_file")
atexit.register(lambda: print("@@ssh-counts " + repr(dict(counts)), file=sys.stderr))
from pyinfra_cli.main import main
sys.argv = ["pyinfra"] + sys.argv[1:]
main()
"""
LYNIS = (
    "lynis audit system --quick --no-colors --cronjob --report-file /tmp/bench-lynis.dat "
    "--logfile /dev/null >/dev/null 2>&1; sed -n 's/^hardening_index=//p' /tmp/bench-lynis.dat"
)


def harden(deploy: Path, env: dict[str, str]) -> tuple[float, int, dict[str, int]]:
    """``(seconds, changed operations, SSH commands per host)`` of one deploy run."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", COUNTING_PYINFRA, "-y", str(INVENTORY), str(deploy)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise SystemExit(f"deploy failed:\n{output[-3000:]}")
    total = re.search(r"Grand total\s+\d+\s+(\S+)", output)
    changed = 0 if not total or total.group(1) == "-" else int(total.group(1))
    counts_line = next(line for line in output.splitlines() if line.startswith("@@ssh-counts "))
    counts: dict[str, int] = {}
    for (host, _), number in eval(counts_line.split(" ", 1)[1]).items():  # our own repr
        counts[host] = counts.get(host, 0) + number
    return seconds, changed, counts


def bench(size: int, deploy: Path) -> dict:
    from hardening import testbed

    env = {**os.environ, **BED_ENV}
    config = testbed.BedConfig.from_env(env)
    bed = testbed.up(size, "services", config)
    try:
        before = bed.run(bed.hosts[0], LYNIS).strip()
        first = harden(deploy, env)
        rerun = harden(deploy, env)
        after = json.loads(bed.run(bed.hosts[0], "cat /var/lib/hardening/lynis/last.json"))
    finally:
        testbed.down(config)
    return {
        "hosts": size,
        "first_s": first[0],
        "first_changes": first[1],
        "rerun_s": rerun[0],
        "rerun_changes": rerun[1],
        "ssh_first_per_host": max(first[2].values()),
        "ssh_rerun_per_host": max(rerun[2].values()),
        "lynis_before": before,
        "lynis_after": after.get("hardening_index"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        deploy = Path(tmp) / "baseline_bench.py"
        deploy.write_text(DEPLOY)
        rows = [bench(size, deploy) for size in args.sizes]
    print("| hosts | first run s | changes | rerun s | rerun changes | SSH cmds/host first "
          "| SSH cmds/host rerun | Lynis index before -> after (tb1) |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        print(
            f"| {row['hosts']} | {row['first_s']:.1f} | {row['first_changes']} "
            f"| {row['rerun_s']:.1f} | {row['rerun_changes']} | {row['ssh_first_per_host']} "
            f"| {row['ssh_rerun_per_host']} | {row['lynis_before']} -> {row['lynis_after']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if all(row["rerun_changes"] == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
