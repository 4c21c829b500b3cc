"""Running commands and handling processes by recorded PID (never by name)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import TestbedError


def log(message: str) -> None:
    """Print one progress line to stderr."""
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def file_lock(path: Path, waiting: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed); print ``waiting`` if it is taken.

    Not re-entrant: take it once per operation.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(waiting)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    check: bool = True,
    timeout: float | None = 600,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output; on failure raise `TestbedError` with its stderr."""
    args = [os.fspath(a) for a in argv]
    try:
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, input=input_text, check=False
        )
    except FileNotFoundError as exc:
        raise TestbedError(f"`{args[0]}` is not installed: install it and retry") from exc
    except subprocess.TimeoutExpired as exc:
        raise TestbedError(f"`{' '.join(args)}` did not finish within {timeout:.0f} s") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        last = detail[-1] if detail else "no output"
        raise TestbedError(f"`{' '.join(args[:4])}` failed (exit {proc.returncode}): {last}")
    return proc


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name, or None if the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rindex(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """Start time of a process in clock ticks since boot (tells a PID from a reused one)."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


@dataclass(frozen=True)
class ProcRef:
    """A process identified by PID plus start time, so a reused PID is never signalled."""

    pid: int
    start: int

    @classmethod
    def of(cls, pid: int) -> ProcRef:
        start = start_time(pid)
        if start is None:
            raise TestbedError(f"process {pid} exited right after it was started")
        return cls(pid, start)

    def to_json(self) -> dict[str, int]:
        return {"pid": self.pid, "start": self.start}

    @classmethod
    def from_json(cls, data: dict[str, int] | None) -> ProcRef | None:
        return cls(int(data["pid"]), int(data["start"])) if data else None

    def alive(self) -> bool:
        """True while the very process we started runs (zombies count as gone)."""
        fields = _stat_fields(self.pid)
        return bool(fields) and fields[0] != "Z" and int(fields[19]) == self.start

    def children(self) -> list[int]:
        """Direct children of the process."""
        try:
            text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def kill(self, *, group: bool = False) -> None:
        """SIGKILL the process (or its process group, of which it is the leader), then reap it."""
        if self.alive():
            try:
                if group and os.getpgid(self.pid) == self.pid:
                    os.killpg(self.pid, signal.SIGKILL)
                else:
                    os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._reap()

    def wait_gone(self, timeout: float = 10.0) -> bool:
        """Wait until the process is gone; returns False on timeout."""
        deadline = time.monotonic() + timeout
        while self.alive():
            self._reap()
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _reap(self) -> None:
        reap(self.pid)


def reap(pid: int) -> None:
    """Collect the exit status if the process is our child (no zombie left behind)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def spawn(argv: Sequence[str | os.PathLike[str]], log_path: Path) -> ProcRef:
    """Start a long-running process in its own session, output appended to ``log_path``."""
    with open(log_path, "ab") as out:
        try:
            proc = subprocess.Popen(
                [os.fspath(a) for a in argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise TestbedError(f"`{argv[0]}` is not installed: install it and retry") from exc
    # From here on the process is tracked (and reaped) through its ProcRef; mark the Popen as
    # finished so that its finaliser neither warns that it still runs nor reaps it behind our back.
    ref = ProcRef.of(proc.pid)
    proc.returncode = 0
    return ref
