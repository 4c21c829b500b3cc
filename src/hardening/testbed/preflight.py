"""Checks that the control node can run a bed, each failing with a one-line `TestbedError`."""

from __future__ import annotations

import os
import shutil

from .cgroups import CgroupLayout, detect_layout
from .errors import TestbedError
from .procs import run

# command -> Debian package that provides it
REQUIRED_TOOLS = {
    "ip": "iproute2",
    "unshare": "util-linux",
    "chroot": "coreutils",
    "tar": "tar",
    "socat": "socat",
    "nft": "nftables",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}


def check_privileges() -> None:
    """Root, and network namespaces that root may create (what every bed needs)."""
    if os.geteuid() != 0:
        raise TestbedError(
            "the testbed needs root (network namespaces, mounts, chroot): "
            "run it as root, e.g. `sudo hardening testbed up`"
        )
    if not shutil.which("ip"):
        raise TestbedError("`ip` is not installed: run `apt-get install iproute2`")
    netns = run(["ip", "netns", "list"], check=False)
    probe = run(["unshare", "--net", "true"], check=False) if netns.returncode == 0 else netns
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise TestbedError(
            f"network namespaces are not available here ({reason}): run the testbed on a "
            "Linux machine or VM where root can create them (not in an unprivileged container)"
        )


def check_tools() -> None:
    """The commands `up` runs on the control node."""
    missing = sorted({pkg for tool, pkg in REQUIRED_TOOLS.items() if not shutil.which(tool)})
    if missing:
        tools = ", ".join(t for t, p in REQUIRED_TOOLS.items() if p in missing)
        raise TestbedError(f"missing {tools}: run `apt-get install {' '.join(missing)}`")


def check_host() -> CgroupLayout:
    """All preconditions of `up`; returns the cgroup layout the hosts will use."""
    check_privileges()
    check_tools()
    return detect_layout()
