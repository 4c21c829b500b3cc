"""Run every benchmark in bench/ and write one Markdown summary plus one JSON file.

    python3 bench/run_all.py [--out bench/results]

Each benchmark boots its own testbed hosts (root needed), prints its own Markdown
table and writes its figures as JSON; this script collects them into
``<out>/summary.md`` and ``<out>/summary.json``. Benchmarks print ratios measured side
by side in one run; absolute times are context only (the machine is noisy).
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
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    markdown, figures = ["# Benchmarks", ""], {}
    for name, argv in RUNS:
        script = BENCH / argv[0]
        if not script.exists():
            continue
        json_path = args.out / f"{name}.json"
        extra = ["--json", str(json_path)] if name not in ("devsec", "baseline") else []
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        done = subprocess.run(
            [sys.executable, str(script), *argv[1:], *extra],
            capture_output=True,
            text=True,
            check=False,
        )
        table = [line for line in done.stdout.splitlines() if line.strip()]
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
