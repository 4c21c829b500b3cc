"""Helpers shared by the bench scripts that drive a testbed with pyinfra (replication.py,
rotation.py). Run the scripts as ``python3 bench/<name>.py``: this directory is then on
``sys.path`` and ``from _common import pyinfra`` works."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INVENTORY = ROOT / "inventories" / "testbed.py"


def pyinfra(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``pyinfra -y inventories/testbed.py ARGS`` in ``env``; (the run, its wall time in s).

    A failed run stops the bench with the tail of its output.

    **Example:**

    .. code:: python

        done, seconds = pyinfra(env, "deploys/backups.py", "--limit", "tb1")
    """
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", str(INVENTORY), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"pyinfra {' '.join(args)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return done, time.perf_counter() - started
