"""Disposable Debian 12 test hosts ("testbed") on the control node.

Each host is a network namespace (``hbtbN``, 10.77.N.2 behind 10.77.N.1 on this machine) in
which a real systemd runs as PID 1, chrooted into an overlayfs over a cached root filesystem
and isolated by mount, PID, UTS, IPC and cgroup namespaces. Hosts are reached over SSH as root
with a key generated once into the cache. Two image profiles exist: ``base`` (debootstrap
minbase with systemd and OpenSSH) and ``services`` (plus PostgreSQL 15, Redis, nginx,
PgBouncer, pgBackRest, nftables, node exporter, rsyslog, logrotate, cron, curl, less).

Python API::

    from hardening import testbed
    bed = testbed.up(2, profile="services")   # -> Bed; prints progress to stderr
    bed.run("tb1", "systemctl is-active postgresql")
    testbed.status()                          # -> list[HostStatus]
    testbed.load_inventory()                  # -> {"web": [("tb1", {...}), ...], ...}
    testbed.down()

CLI: ``hardening testbed up|down|status|ssh|build`` (see `cli`). Paths, cache and state
layout: see `config`. Everything raises `TestbedError` with a one-line message.
"""

from __future__ import annotations

from .addressing import GROUPS, HostSpec
from .cli import main
from .config import BedConfig
from .errors import TestbedError
from .images import build
from .inventory import load_inventory
from .lifecycle import Bed, HostStatus, down, ssh_argv, status, up

__all__ = [
    "GROUPS",
    "Bed",
    "BedConfig",
    "HostSpec",
    "HostStatus",
    "TestbedError",
    "build",
    "down",
    "load_inventory",
    "main",
    "ssh_argv",
    "status",
    "up",
]
