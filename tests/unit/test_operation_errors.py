"""An operation's OperationError reaches the user as one line, without a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEPLOY = """
from pyinfra.api import StringCommand, operation
from pyinfra.api.exceptions import OperationError

import hardening.operations  # noqa: F401 - the hub setting lives there


@operation()
def refuse():
    raise OperationError("the device carries data: name an empty one")
    yield StringCommand("true")


refuse(name="refuse")
"""


def test_operation_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    script = tmp_path / "refuse.py"
    script.write_text(DEPLOY)
    done = subprocess.run(
        [sys.executable, "-m", "pyinfra", "@local", str(script), "-y"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "Traceback" not in out, out
    errors = [line for line in out.splitlines() if "the device carries data" in line]
    assert len(errors) == 1 and errors[0].startswith("--> Operation error"), out
