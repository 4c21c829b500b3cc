"""Where the host-side CPU of the audit's batched fact script goes, section by section.

Builds the same script as the audit (:mod:`hardening.batch`) for each selected host, runs it
once with each section timed (wall time and the CPU of its child processes, from the shell's
``times``), and prints the costliest sections. Read-only, like the audit.

    python3 bench/fact_profile.py [inventories/testbed.py] [--limit tb1] [--top 15]

Not a test: no timing assertions.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

#: Cumulative CPU of the shell's children (second line of ``times``, run in this shell: in a
#: pipe or ``$(...)`` it would time a subshell) and the wall clock.
_STAMP = (
    'times >"$_hb_times"; printf \'@@stamp %s %s\\n\' "$(sed -n 2p "$_hb_times")" "$(date +%s%N)"'
)
_TIMES = re.compile(r"@@stamp (\d+)m([\d.]+)s (\d+)m([\d.]+)s (\d+)")


def timed_script(requests: list[tuple[type, dict]], marker: str) -> str:
    """The batched script with a stamp line before the first section and after each."""
    from hardening.batch import fact_script, prelude

    head = prelude()
    sections = [fact_script([request], marker)[len(head) + 1 :] for request in requests]
    stamped = (f"{section}\n{_STAMP}" for section in sections)
    return "\n".join([head, "_hb_times=$(mktemp)", _STAMP, *stamped, 'rm -f "$_hb_times"'])


def section_costs(lines: list[str]) -> list[tuple[float, float]]:
    """(CPU s, wall s) of each section from the stamp lines of a timed script's output."""
    stamps = []
    for line in lines:
        found = _TIMES.match(line)
        if found:
            user = int(found[1]) * 60 + float(found[2])
            system = int(found[3]) * 60 + float(found[4])
            stamps.append((user + system, int(found[5]) / 1e9))
    return [(b[0] - a[0], b[1] - a[1]) for a, b in zip(stamps, stamps[1:], strict=False)]


def profile(inventory_path: str, limit: list[str] | None, top: int) -> None:
    """Print the costliest sections of each selected host's batched fact script."""
    import gevent
    from pyinfra.api import State, StringCommand

    from hardening.audit import _connect, _init_state, planned_facts
    from hardening.catalog import CATALOG
    from hardening.checks import HostContext, registry
    from hardening.inventory import host_groups, load_inventory, select_hosts

    state = State(check_for_changes=False)
    inventory = load_inventory(inventory_path, state)
    hosts = select_hosts(inventory, limit)
    _init_state(state, inventory, hosts, None)
    errors = _connect(state, hosts)
    checks = registry()

    def run(host: Any) -> None:
        context = HostContext(host.name, host_groups(host), host.data.dict(), dict)
        requests = planned_facts(context, CATALOG, checks)
        _, output = host.run_shell_command(
            StringCommand(timed_script(requests, "@@profile")), print_output=False
        )
        costs = section_costs(output.stdout_lines)
        labels = [f"{cls.__name__} {kwargs or ''}".strip() for cls, kwargs in requests]
        rows = sorted(
            ((cpu, wall, label) for (cpu, wall), label in zip(costs, labels, strict=False)),
            reverse=True,
        )
        cpu_total, wall_total = sum(c for c, _ in costs), sum(w for _, w in costs)
        print(
            f"## {host.name}: {len(requests)} facts, CPU {cpu_total:.2f} s, wall {wall_total:.2f} s"
        )
        print("| CPU s | wall s | fact |\n|---:|---:|---|")
        for cpu, wall, label in rows[:top]:
            print(f"| {cpu:.3f} | {wall:.3f} | {label[:100]} |")

    reachable = [host for host in hosts if host.name not in errors]
    for host in reachable:  # one host at a time: the figures are not disturbed by the others
        gevent.spawn(run, host).get()
        host.disconnect()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inventory", nargs="?", default="inventories/testbed.py")
    parser.add_argument("--limit", nargs="*", help="host names or groups")
    parser.add_argument("--top", type=int, default=15, help="sections listed per host")
    args = parser.parse_args()
    from gevent import monkey

    monkey.patch_all()
    os.chdir(ROOT)
    profile(args.inventory, args.limit, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
