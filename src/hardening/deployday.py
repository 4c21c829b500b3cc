"""``hardening deploy-day INVENTORY --release R``: a whole deployment day with gates.

Runs ``deploys/release.py`` phase by phase (see ``hardening.deploys.release``) and stops at
the first failed gate, then runs ``deploys/rollback.py`` and exits 1 naming the gate::

    hardening deploy-day inventories/prod.py --release v2
    hardening deploy-day inventories/prod.py --release build/v2   # uploads build/v2 first

Control-node gates: the pre-flight backup (``deploys/preflight_backup.py`` when a backup
repository is configured), the dry run of the release deploys, the webhook notifications
and the regression suite. The run directory (``deployday-runs/<release>/``) keeps
``run.json``, each host's snapshot and rollback plan; ``docs/deployments/<release>.md`` is
the documentation note.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hardening.errors import HardeningError
from hardening.inventory import host_groups, load_inventory
from hardening.settings import setting

Handler = Callable[[argparse.Namespace], int]
_GATE_FAILED = re.compile(r"GATE FAILED (\w+): ([^\n\\]*)")
ROOT = Path(__file__).resolve().parents[2]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GateFailed(Exception):
    """A gate failed: ``gate`` names it, the message says why."""

    def __init__(self, gate: str, detail: str) -> None:
        super().__init__(f"gate {gate} failed: {detail}")
        self.gate = gate
        self.detail = detail


@dataclass
class Run:
    """One deploy-day run: inventory, release, where its records go, its gates."""

    inventory: str
    release: str
    run_dir: Path
    docs_dir: Path
    allow_no_backup: bool = False
    limit: str = ""
    source: str = ""
    started: str = field(
        default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    )
    gates: dict[str, dict[str, str]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def gate(self, name: str, status: str, detail: str) -> None:
        """Record a control-node gate; raise ``GateFailed`` when it fails."""
        self.gates[name] = {"status": status, "detail": detail, "at": _now()}
        print(f"deploy-day: gate {name}: {status}: {detail}", flush=True)
        if status == "fail":
            raise GateFailed(name, detail)

    def pyinfra(self, script: str, *data: str, dry: bool = False, limit: str = "") -> str:
        """Run a deploy script with this run's data; raise ``GateFailed`` on failure."""
        args = [sys.executable, "-m", "pyinfra", "-y", self.inventory, script]
        args += ["--data", f"deployday_release={self.release}"]
        args += ["--data", f"deployday_started={self.started}"]
        if self.source:
            args += ["--data", f"deployday_release_src={self.source}"]
        for entry in data:
            args += ["--data", entry]
        if dry:
            args.append("--dry")
        if limit or self.limit:
            args += ["--limit", limit or self.limit]
        env = {**os.environ, "HARDENING_DEPLOYDAY_RUN_DIR": str(self.run_dir)}
        done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT)
        output = done.stdout + done.stderr
        self.log.append(f"$ {' '.join(args[2:])}\n{output[-4000:]}")
        if done.returncode != 0:
            match = _GATE_FAILED.search(output)
            if match:
                raise GateFailed(match.group(1), match.group(2).strip())
            tail = [line for line in output.strip().splitlines() if "-->" not in line][-4:]
            raise GateFailed(f"pyinfra {Path(script).stem}", " | ".join(tail))
        return output


def notify(url: str, event: str, release: str, detail: str) -> str:
    """POST a JSON notification; return a one-line status (never raises)."""
    body = json.dumps({"event": event, "release": release, "detail": detail}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return f"webhook answered {response.status}"
    except OSError as error:
        return f"webhook failed: {error}"


def _hosts(inventory: str) -> list[Any]:
    return list(load_inventory(inventory))


def _first(hosts: list[Any], key: str) -> Any:
    """The first non-default value of ``key`` among the hosts (control-node settings)."""
    values = [setting(h.data, key) for h in hosts if setting(h.data, key)]
    return values[0] if values else setting({}, key)


def deploy_day(run: Run) -> int:
    """Run all phases; on a failed gate roll back. Exit status 0, or 1 naming the gate."""
    hosts = _hosts(run.inventory)
    webhook = _first(hosts, "deployday_webhook_url")
    run.run_dir.mkdir(parents=True, exist_ok=True)
    started = False
    try:
        _preflight(run, hosts, webhook)
        started = True
        for web in [h for h in hosts if "web" in host_groups(h)]:
            run.pyinfra("deploys/release.py", "deployday_phase=backend", limit=web.name)
        run.pyinfra("deploys/release.py", "deployday_phase=frontend")
        _post(run, hosts, webhook)
    except GateFailed as failure:
        print(f"deploy-day: {failure}", file=sys.stderr)
        if started:
            try:
                run.pyinfra("deploys/rollback.py", "deployday_phase=rollback")
                run.gates["rollback"] = {"status": "pass", "detail": "rolled back", "at": _now()}
            except GateFailed as error:
                run.gates["rollback"] = {"status": "fail", "detail": str(error), "at": _now()}
        if webhook:
            notify(webhook, "deployment_failed", run.release, str(failure))
        _write_run(run, "rolled_back" if started else "stopped", failure)
        print(
            f"deploy-day: release {run.release} stopped at gate {failure.gate}: "
            f"{failure.detail}" + (" (rolled back)" if started else ""),
            file=sys.stderr,
        )
        return 1
    _write_run(run, "success", None)
    print(f"deploy-day: release {run.release} deployed; records in {run.run_dir}")
    return 0


def _preflight(run: Run, hosts: list[Any], webhook: str) -> None:
    backup_hosts = [h for h in hosts if setting(h.data, "backup_s3_endpoint")]
    if backup_hosts:
        run.pyinfra("deploys/preflight_backup.py")
        run.gate("preflight_backup", "pass", f"full backup on {len(backup_hosts)} host(s)")
    elif run.allow_no_backup:
        run.gate("preflight_backup", "skip", "no backup repository configured (allowed)")
    else:
        run.gate(
            "preflight_backup",
            "fail",
            "no backup repository configured (set backup_s3_endpoint or --allow-no-backup)",
        )
    run.pyinfra("deploys/release.py", "deployday_phase=preflight")
    for phase in ("backend", "frontend"):
        run.pyinfra("deploys/release.py", f"deployday_phase={phase}", dry=True)
    run.gate("scripts_dry_run", "pass", "deploys/release.py backend and frontend: --dry ok")
    if webhook:
        status = notify(webhook, "maintenance_start", run.release, "deployment window opens")
        run.gate("notification", "pass" if "answered 2" in status else "fail", status)


def _post(run: Run, hosts: list[Any], webhook: str) -> None:
    command = _first(hosts, "deployday_regression_command")
    if command:
        done = subprocess.run(command, shell=True, capture_output=True, text=True, cwd=os.getcwd())
        last = (done.stdout + done.stderr).strip().splitlines()[-1:] or [""]
        run.gate(
            "regression_suite",
            "pass" if done.returncode == 0 else "fail",
            f"`{command}` exited {done.returncode}: {last[0][:200]}",
        )
    else:
        run.gates["regression_suite"] = {
            "status": "pending",
            "detail": "no deployday_regression_command declared",
            "at": _now(),
        }
    if webhook:
        run.gates["notification_success"] = {
            "status": "pass",
            "detail": notify(webhook, "deployment_succeeded", run.release, "all gates passed"),
            "at": _now(),
        }
    run.pyinfra(
        "deploys/release.py", "deployday_phase=post", f"deployday_gates={json.dumps(run.gates)}"
    )


def _write_run(run: Run, result: str, failure: GateFailed | None) -> None:
    record = {
        "schema": 1,
        "release": run.release,
        "result": result,
        "failed_gate": failure.gate if failure else None,
        "reason": failure.detail if failure else None,
        "finished": _now(),
        "gates": run.gates,
    }
    (run.run_dir / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    (run.run_dir / "pyinfra.log").write_text("\n\n".join(run.log))
    if result == "success":
        run.docs_dir.mkdir(parents=True, exist_ok=True)
        lines = [f"# Deployment {run.release}", "", f"- finished: {record['finished']}", ""]
        lines += [f"- {name}: {g['status']} — {g['detail']}" for name, g in run.gates.items()]
        notes = sorted(run.run_dir.glob("*/NOTES.md"))
        lines += ["", "Host notes: " + ", ".join(str(n) for n in notes)]
        (run.docs_dir / f"{run.release}.md").write_text("\n".join(lines) + "\n")


def _handle(args: argparse.Namespace) -> int:
    release, source = args.release, ""
    if Path(release).is_dir():
        source, release = str(Path(release).resolve()), Path(release).resolve().name
    elif "/" in release:
        raise HardeningError(f"release directory {release} does not exist")
    run = Run(
        source=source,
        inventory=os.path.abspath(args.inventory),
        release=release,
        run_dir=Path(args.run_dir).resolve() / release,
        docs_dir=Path(args.docs_dir).resolve(),
        allow_no_backup=args.allow_no_backup,
        limit=args.limit or "",
    )
    if args.watch:
        try:
            run.pyinfra("deploys/release.py", "deployday_phase=watch")
        except GateFailed as error:
            print(f"deploy-day: watch: {error}", file=sys.stderr)
            return 1
        print(f"deploy-day: watch sample of {release} taken on every host")
        return 0
    return deploy_day(run)


def add_commands(subparsers: Any) -> dict[str, Handler]:
    """Add ``deploy-day`` to the ``hardening`` command line; return its handler by name."""
    parser = subparsers.add_parser(
        "deploy-day",
        help="deploy a release with pre-flight, gates, post checks and automatic rollback",
    )
    parser.add_argument("inventory", help="pyinfra inventory file")
    parser.add_argument(
        "--release",
        required=True,
        help="release version already on the hosts, or a local release directory to upload",
    )
    parser.add_argument("--allow-no-backup", action="store_true")
    parser.add_argument(
        "--watch",
        action="store_true",
        help="take one 24-48 h watch sample of the release now (the timer does it every 15 min)",
    )
    parser.add_argument("--limit", help="only these hosts/groups (pyinfra --limit)")
    parser.add_argument("--run-dir", default="deployday-runs", help="local run directory")
    parser.add_argument("--docs-dir", default="docs/deployments", help="deployment notes")
    return {"deploy-day": _handle}


def main(argv: list[str] | None = None) -> int:
    """``python3 -m hardening.deployday INVENTORY --release R`` (until wired into cli)."""
    parser = argparse.ArgumentParser(prog="hardening")
    handlers = add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["deploy-day", *(argv if argv is not None else sys.argv[1:])])
    try:
        return handlers[args.command](args)
    except HardeningError as error:
        print(f"hardening deploy-day: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
