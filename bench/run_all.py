"""Run every benchmark in bench/ and write one Markdown summary plus one JSON file.

    python3 bench/run_all.py [--out bench/results] [--only audit harden ...]

Each benchmark boots its own testbed hosts (root needed), prints its own Markdown
table and writes its figures as JSON; this script collects them into
``<out>/summary.md`` and ``<out>/summary.json``. Benchmarks print ratios measured side
by side in one run; absolute times are context only (the machine is noisy). With ``--only``
the named benchmarks run and the others' figures are taken from ``<out>/<name>.json`` of an
earlier run, when present (marked as such in the summary).

Testbed networks (10.77.N.0/24) of the benchmarks: audit 151-158, harden 161-164, devsec
166-169, fleet 147 (test slot 6's module-bed range, so do not run slot 6's integration tests
meanwhile), baseline 237-240, replication 244-245.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RUNS = (
    ("audit", ["audit.py", "--hosts", "1", "4", "8"]),
    ("harden", ["harden.py", "--hosts", "1", "4"]),
    ("fleet", ["fleet.py", "--sizes", "100", "1000"]),
    ("baseline", ["baseline.py"]),
    ("devsec", ["devsec.py"]),
    ("replication", ["replication.py", "--scale", "20", "--clients", "8", "--seconds", "30"]),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument(
        "--only",
        nargs="*",
        choices=[name for name, _ in RUNS],
        help="run only these (none: just collect <out>/<name>.json of earlier runs)",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    markdown, figures = ["# Benchmarks", ""], {}
    for name, argv in RUNS:
        script = BENCH / argv[0]
        if not script.exists():
            continue
        json_path = args.out / f"{name}.json"
        table_path = args.out / f"{name}.md"
        if args.only is not None and name not in args.only:
            if json_path.exists():  # figures of an earlier run
                figures[name] = json.loads(json_path.read_text())
                table = table_path.read_text().splitlines() if table_path.exists() else []
                markdown += [f"## {name} (earlier run)", "", *table, ""]
            continue
        extra = ["--json", str(json_path)]
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        done = subprocess.run(
            [sys.executable, str(script), *argv[1:], *extra],
            capture_output=True,
            text=True,
            check=False,
        )
        table = [line for line in done.stdout.splitlines() if line.strip()]
        table_path.write_text("\n".join(table) + "\n")
        markdown += [f"## {name}", "", *table, ""]
        if done.returncode != 0:
            markdown += [f"failed (exit {done.returncode}): {done.stderr.strip()[-500:]}", ""]
        if json_path.exists():
            figures[name] = json.loads(json_path.read_text())
    (args.out / "summary.md").write_text("\n".join(markdown))
    (args.out / "summary.json").write_text(json.dumps(figures, indent=2))
    print("\n".join(markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
