"""``hardening testbed ...``: command-line entry of the testbed.

`main` raises `TestbedError` for expected failures (the project CLI prints ``str(error)`` and
exits 2); ``python -m hardening.testbed`` does the same on its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from dataclasses import asdict

from . import images, lifecycle, services
from .config import BedConfig
from .errors import TestbedError
from .inventory import NOT_UP
from .state import StateStore

DESCRIPTION = """\
Disposable Debian 12 test hosts on this machine: each host is a network namespace with a real
systemd as PID 1 (booted from a cached root filesystem in a chroot with its own mount, PID, UTS,
IPC and cgroup namespaces), reachable over SSH as root at 10.77.N.2. Needs root.

The root filesystems are built once with debootstrap from this machine's Debian mirror and
cached under ~/.cache/hardening/testbed ($HARDENING_CACHE/testbed). The running bed is recorded
in /run/hardening-testbed ($HARDENING_TESTBED_STATE), including inventory.json; the pyinfra
inventory inventories/testbed.py reads it.
"""

EPILOG = """\
examples:
  hardening testbed up 2                 two hosts with PostgreSQL, Redis, nginx, ...
  hardening testbed up --profile base    one minimal host
  hardening testbed status
  hardening testbed ssh tb1 systemctl --failed
  pyinfra -y inventories/testbed.py exec -- uname -a
  hardening testbed down
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hardening testbed",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p_up = sub.add_parser("up", help="boot hosts tb1..tbN (builds the image first if needed)")
    p_up.add_argument("count", nargs="?", type=int, default=1, metavar="N",
                      help="number of hosts (default 1; tb1 is web/db_primary/cache/monitoring, "
                           "tb2 db_replica, more hosts are web)")  # fmt: skip
    _profile_option(p_up, default="services")
    p_up.add_argument("--timeout", type=float, default=None,
                      help="seconds to wait for each host to be ready (default 180)")  # fmt: skip
    p_up.add_argument("--backends", action="store_true",
                      help="also start an OpenBao dev server and an S3 service (moto, TLS) on "
                           "this machine and point the hosts' inventory data at them "
                           "(secrets_backend, tls_issuer: vault, backup_s3_*); `down` stops "
                           "them")  # fmt: skip

    sub.add_parser("down", help="stop all hosts and remove everything the bed created")

    p_status = sub.add_parser("status", help="show each host, its process, SSH and systemd state")
    p_status.add_argument("--json", action="store_true", help="print JSON")

    p_ssh = sub.add_parser("ssh", help="run a command (or a shell) on a host as root")
    p_ssh.add_argument("host", help="host name, e.g. tb1")
    p_ssh.add_argument("remote", nargs=argparse.REMAINDER, metavar="CMD",
                       help="command to run (default: interactive shell)")  # fmt: skip

    p_build = sub.add_parser("build", help="build the cached images only")
    _profile_option(p_build, default=None, help_default="all profiles")
    p_build.add_argument("--force", action="store_true", help="rebuild even if cached")
    return parser


def _profile_option(
    parser: argparse.ArgumentParser, default: str | None, help_default: str | None = None
) -> None:
    parser.add_argument(
        "--profile",
        choices=tuple(images.PROFILES),
        default=default,
        help="base: minimal Debian with systemd and sshd; services: base plus PostgreSQL 15, "
        "Redis, nginx, PgBouncer, pgBackRest, nftables, node exporter, rsyslog, cron "
        f"(default: {help_default or default})",
    )


def main(argv: list[str]) -> int:
    """Run ``hardening testbed`` with ``argv`` (arguments after ``testbed``); exit status."""
    args = build_parser().parse_args(argv)
    config = BedConfig.from_env()
    if args.command == "up":
        bed = lifecycle.up(args.count, args.profile, config, timeout=args.timeout)
        if args.backends:
            services.attach_backends(config, bed)
    elif args.command == "down":
        lifecycle.down(config)
    elif args.command == "status":
        return _status(config, as_json=args.json)
    elif args.command == "ssh":
        return _ssh(config, args.host, args.remote)
    elif args.command == "build":
        if args.force and StateStore(config.state_file).load() is not None:
            raise TestbedError(
                "a testbed is up on the cached images: run `hardening testbed down` before "
                "`build --force`"
            )
        profiles = (args.profile,) if args.profile else tuple(images.PROFILES)
        images.build(config, profiles, force=args.force)
    return 0


def _status(config: BedConfig, *, as_json: bool) -> int:
    rows = lifecycle.status(config)
    if as_json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
    elif not rows:
        print("no testbed is up")
    else:
        header = ("HOST", "ADDRESS", "NETNS", "PID", "ALIVE", "SSH", "SYSTEMD")
        table = [header] + [
            (r.name, r.address, r.netns, str(r.pid or "-"), _yes(r.pid_alive),
             _yes(r.ssh_reachable), r.systemd_state)
            for r in rows
        ]  # fmt: skip
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for row in table:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        for r in rows:
            if r.failed_units:
                print(f"{r.name}: failed units: {' '.join(r.failed_units)}")
    return 0 if rows and all(r.ssh_reachable for r in rows) else 1


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _ssh(config: BedConfig, host: str, remote: list[str]) -> int:
    state = StateStore(config.state_file).load()
    if state is None:
        raise TestbedError(NOT_UP)
    address = state.host(host).spec.address
    command = " ".join(remote) if remote else None
    argv = lifecycle.ssh_argv(config, address, command, tty=command is None)
    return subprocess.call(argv)
