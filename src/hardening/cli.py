"""The ``hardening`` command line.

    hardening audit inventories/prod.py --format html --output report.html
    hardening testbed up 2
    hardening demo
    hardening catalog

Errors a user can fix are printed as one line (``hardening: error: ...``) with
exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILING, EXIT_USAGE = 0, 1, 2

FORMATS = ("table", "json", "junit", "html")


def _build_parser() -> argparse.ArgumentParser:
    from hardening import __version__

    parser = argparse.ArgumentParser(
        prog="hardening",
        description=(
            "The production-deployment checklist as code. `audit` checks hosts read-only and "
            "reports all 150 checklist items per host; `pyinfra INVENTORY deploys/harden.py` "
            "applies what can be enforced; `testbed` boots disposable Debian hosts; `demo` "
            "does all of it on the testbed."
        ),
        epilog=(
            "Exit codes: 0 no critical/high item fails; 1 a critical/high item fails; "
            "2 usage, inventory or connection error."
        ),
    )
    parser.add_argument("--version", action="version", version=f"hardening {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    audit = commands.add_parser(
        "audit",
        help="audit hosts read-only and report every checklist item",
        description=(
            "Connect to the inventory's hosts with pyinfra, gather facts (read-only "
            "commands only), judge each of the 150 checklist items per host and render "
            "the report. Nothing on the hosts is changed."
        ),
    )
    audit.add_argument("inventory", help="pyinfra inventory file (e.g. inventories/prod.py)")
    audit.add_argument(
        "--limit",
        action="append",
        metavar="PATTERN",
        help="only these hosts: group name or host glob, as pyinfra's --limit (repeatable)",
    )
    audit.add_argument("--format", choices=FORMATS, default="table", help="report format")
    audit.add_argument("--output", "-o", metavar="FILE", help="write the report here")
    for extra in ("json", "junit", "html"):
        audit.add_argument(
            f"--{extra}", metavar="FILE", help=f"also write the {extra.upper()} report here"
        )
    audit.add_argument("--parallel", type=int, metavar="N", help="hosts audited at once")
    audit.add_argument(
        "--verbose", "-v", action="store_true", help="list unchecked items one by one"
    )
    audit.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 also when a critical/high item is unchecked or pending",
    )
    audit.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    audit.add_argument(
        "--no-batch",
        action="store_true",
        help="gather each fact with its own SSH command (slower; for comparison)",
    )

    testbed = commands.add_parser(
        "testbed",
        help="disposable Debian 12 hosts in network namespaces (up, down, status, ssh)",
        add_help=False,
    )
    testbed.add_argument("args", nargs=argparse.REMAINDER, help="see `hardening testbed --help`")

    rotate = commands.add_parser(
        "rotate",
        help="rotate the credentials that are due (what the hardening-rotate timer runs)",
    )
    rotate.add_argument("inventory", help="pyinfra inventory of the hosts whose credentials rotate")
    rotate.add_argument(
        "pyinfra_args", nargs=argparse.REMAINDER, help="more pyinfra arguments (--limit, --data)"
    )

    demo = commands.add_parser(
        "demo",
        help="boot testbed hosts, audit them fresh, harden them, audit again",
        description=(
            "Boots N disposable testbed hosts (default 2) with an OpenBao dev server and an S3 "
            "service (moto) on this machine as secrets backend and backup repository, audits "
            "the hosts as they come, runs `pyinfra inventories/testbed.py deploys/harden.py`, "
            "then the on-demand DR actions (restore drill, application restart) that measure "
            "RTO/RPO, audits again and writes the HTML report. Hosts and services stay up for "
            "exploring; `hardening testbed down` removes them."
        ),
    )
    demo.add_argument("--hosts", type=int, default=2, help="number of testbed hosts")
    demo.add_argument("--html", default="reports-out/demo.html", help="HTML report path")
    demo.add_argument("--down", action="store_true", help="tear the hosts down at the end")
    demo.add_argument(
        "--no-backends",
        dest="backends",
        action="store_false",
        help="no OpenBao / S3 on this machine: secrets and backup items then fail, with the "
        "reason (nothing configured)",
    )

    catalog = commands.add_parser("catalog", help="list the checklist items and their checks")
    catalog.add_argument("--kind", help="only items of this kind (enforce, probe, ...)")

    report = commands.add_parser("report", help="work with saved JSON reports")
    report_commands = report.add_subparsers(dest="report_command", metavar="ACTION")
    merge = report_commands.add_parser(
        "merge", help="merge JSON reports of several runs (fleet shards) into one"
    )
    merge.add_argument("inputs", nargs="+", help="JSON reports written by `audit --format json`")
    merge.add_argument("--format", choices=FORMATS, default="json")
    merge.add_argument("--output", "-o", metavar="FILE")

    from hardening.attest import add_commands as attest_commands
    from hardening.cloud_cli import add_commands as cloud_commands
    from hardening.deployday import add_commands as deployday_commands
    from hardening.runbooks import add_commands as runbook_commands

    COMMANDS.update(attest_commands(commands))  # attest, sign-off, keygen, attestations
    COMMANDS.update(cloud_commands(commands))  # cloud apply / cloud status
    COMMANDS.update(runbook_commands(commands))  # runbooks rendered from the inventory
    COMMANDS.update(deployday_commands(commands))  # the deployment-day workflow
    return parser


def _write(text: str, path: str | None) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _exit_code(report, strict: bool) -> int:
    from hardening.catalog import get_item
    from hardening.results import Status

    if report.unreachable_hosts:
        return EXIT_USAGE
    if report.blocking_failures():
        return EXIT_FAILING
    if strict and any(
        result.status in (Status.UNCHECKED, Status.PENDING)
        and get_item(result.item_id).severity in ("critical", "high")
        for result in report.results
    ):
        return EXIT_FAILING
    return EXIT_OK


def _render(report, fmt: str, verbose: bool = False) -> str:
    from hardening.reports import RENDERERS, table

    if fmt == "table":
        return table.render(report, verbose=verbose)
    return RENDERERS[fmt](report)


def cmd_audit(args: argparse.Namespace) -> int:
    from hardening.audit import run_audit

    report = run_audit(
        args.inventory,
        limit=args.limit,
        parallel=args.parallel,
        progress=None if args.quiet else _progress,
        batch=not args.no_batch,
    )
    _write(_render(report, args.format, args.verbose), args.output)
    for extra in ("json", "junit", "html"):
        if getattr(args, extra):
            _write(_render(report, extra), getattr(args, extra))
    for host in report.unreachable_hosts:
        _progress(f"hardening: error: {host.name}: {host.error}")
    return _exit_code(report, args.strict)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_catalog(args: argparse.Namespace) -> int:
    from hardening.catalog import CATALOG
    from hardening.checks import registry

    checks = registry()
    for item in CATALOG:
        if args.kind and item.kind != args.kind:
            continue
        state = "check" if item.check in checks else "unchecked"
        print(f"{item.id:<12} {item.kind:<8} {item.severity:<8} {state:<9} {item.text}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    import json

    from hardening.errors import HardeningError
    from hardening.reports import json_report

    if args.report_command != "merge":
        raise HardeningError("report needs an action: `hardening report merge A.json B.json`")
    reports = []
    for path in args.inputs:
        try:
            reports.append(json.loads(Path(path).read_text("utf-8")))
        except (OSError, ValueError, KeyError) as error:
            raise HardeningError(
                f"{path} is not a readable hardening JSON report: {error}"
            ) from None
    merged = json_report.merge(reports)
    _write(_render(merged, args.format), args.output)
    return _exit_code(merged, strict=False)


def cmd_testbed(args: argparse.Namespace) -> int:
    from hardening import testbed

    forwarded = args.args[1:] if args.args[:1] == ["--"] else args.args
    return testbed.main(forwarded)


def _repo_root() -> Path:
    """The checkout holding deploys/ and inventories/ (the demo needs them)."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (candidate / "deploys" / "harden.py").exists():
            return candidate
    from hardening.errors import HardeningError

    raise HardeningError("run the demo from the repository checkout (deploys/harden.py not found)")


def cmd_rotate(args: argparse.Namespace) -> int:
    """``pyinfra -y INVENTORY deploys/rotate_credentials.py``: rotates only what is due."""
    deploy = _repo_root() / "deploys" / "rotate_credentials.py"
    command = [sys.executable, "-m", "pyinfra", "-y", args.inventory, str(deploy)]
    return subprocess.run(command + args.pyinfra_args, check=False).returncode


def cmd_demo(args: argparse.Namespace) -> int:
    from hardening import testbed
    from hardening.audit import run_audit
    from hardening.errors import HardeningError
    from hardening.reports import table

    root = _repo_root()
    os.chdir(root)
    inventory = "inventories/testbed.py"
    if testbed.Bed.current() is not None:
        _progress("demo: replacing the testbed that is up with fresh hosts")
        testbed.main(["down"])
    if testbed.main(["up", str(args.hosts)] + (["--backends"] if args.backends else [])) != 0:
        raise HardeningError("the testbed did not come up (see above)")
    try:
        _progress("demo: auditing the fresh hosts")
        before = run_audit(inventory, progress=_progress)
        _progress("demo: " + before.summary_line())
        _progress("demo: hardening: pyinfra -y inventories/testbed.py deploys/harden.py")
        for deploy in ("harden", "restore_drill", "restart_app"):
            if deploy != "harden":
                _progress(f"demo: measuring DR objectives: deploys/{deploy}.py")
            done = subprocess.run(
                [sys.executable, "-m", "pyinfra", "-y", inventory, f"deploys/{deploy}.py"],
                check=False,
            )
            if done.returncode != 0:
                raise HardeningError(f"{deploy} failed (pyinfra exit {done.returncode}); see above")
        _progress("demo: auditing the hardened hosts")
        after = run_audit(inventory, progress=_progress)
        table.print_report(after)
        _write(_render(after, "html"), args.html)
        _progress(f"demo: before: {before.summary_line()}")
        _progress(f"demo: after:  {after.summary_line()}")
        blocking = after.blocking_failures()
        _progress(
            f"demo: {len(blocking)} critical/high results still fail after harden (see the "
            "evidence and the fix of each); `hardening audit` would exit "
            f"{_exit_code(after, strict=False)}"
        )
        _progress(f"demo: HTML report: {args.html}")
        if not args.down:
            _progress("demo: hosts stay up: `hardening testbed status`, `hardening testbed down`")
        return EXIT_OK
    finally:
        if args.down:
            testbed.main(["down"])


COMMANDS = {
    "audit": cmd_audit,
    "catalog": cmd_catalog,
    "report": cmd_report,
    "testbed": cmd_testbed,
    "demo": cmd_demo,
    "rotate": cmd_rotate,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hardening`` console script."""
    from gevent import monkey

    monkey.patch_all()
    from hardening.errors import HardeningError

    argv = sys.argv[1:] if argv is None else argv
    parser = _build_parser()
    if argv[:1] == ["testbed"]:  # the testbed has its own parser (and --help)
        argv = ["testbed", "--", *argv[1:]]
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
    except HardeningError as error:
        print(f"hardening: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("hardening: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
