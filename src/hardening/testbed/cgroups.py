"""Per-host cgroups on the control node.

Each host's processes (its ``unshare``, systemd and everything below) run in a cgroup of their
own, which becomes the root of the host's cgroup namespace, so each host's systemd sees and
manages only its own tree. The forwarder of each host has a sibling cgroup. Teardown kills
what is still in these cgroups, which catches anything the PID records could miss.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import TestbedError
from .procs import reap


@dataclass(frozen=True)
class CgroupLayout:
    """How the control node mounts cgroups.

    ``version`` 1: a legacy/hybrid machine with a ``name=systemd`` v1 hierarchy at ``mount``
    (the layout verified for this project); 2: a unified cgroup2 hierarchy at ``mount``.
    """

    version: int
    mount: Path


def detect_layout(mounts_text: str | None = None) -> CgroupLayout:
    """Find the cgroup hierarchy systemd inside the hosts can use (from /proc/mounts)."""
    if mounts_text is None:
        mounts_text = Path("/proc/mounts").read_text()
    unified = None
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        target, fstype, options = fields[1], fields[2], fields[3].split(",")
        if fstype == "cgroup" and "name=systemd" in options:
            return CgroupLayout(1, Path(target))
        if fstype == "cgroup2" and target == "/sys/fs/cgroup":
            unified = CgroupLayout(2, Path(target))
    if unified:
        return unified
    raise TestbedError(
        "no usable cgroup hierarchy (neither a name=systemd cgroup v1 hierarchy nor cgroup2 "
        "at /sys/fs/cgroup): mount one, systemd in the test hosts needs it"
    )


def members(path: Path) -> list[int]:
    """PIDs in a cgroup and all its descendants."""
    pids: list[int] = []
    if not path.is_dir():
        return pids
    for dirpath, _dirs, _files in os.walk(path):
        try:
            text = (Path(dirpath) / "cgroup.procs").read_text()
        except OSError:
            continue
        pids += [int(p) for p in text.split()]
    return pids


def kill_all(path: Path, timeout: float = 10.0) -> bool:
    """SIGKILL every process in a cgroup tree until it is empty; False if it does not empty."""
    deadline = time.monotonic() + timeout
    while pids := members(path):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            reap(pid)
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def remove_tree(path: Path) -> bool:
    """Remove an (empty) cgroup and its descendants, deepest first; False if any remains."""
    if not path.is_dir():
        return True
    for dirpath, _dirs, _files in os.walk(path, topdown=False):
        try:
            os.rmdir(dirpath)
        except FileNotFoundError:
            pass
        except OSError:
            return False
    return not path.exists()
