"""Benchmark: dev-sec's ansible-collection-hardening (os, ssh, nginx roles) next to ours.

Runs only when both are present on this machine; otherwise says how to provide them and
exits 0 (skipped). Nothing of dev-sec is vendored in this repository.

    DEVSEC_COLLECTION=/path/to/ansible-collection-hardening python3 bench/devsec.py \
        [--hosts 1 4] [--json FILE]

Provide them with a scratch virtualenv holding the full ``ansible`` package (it bundles the
ansible.posix and community.general collections the roles use; ``ansible-core`` alone lacks
them), e.g. ``python3 -m venv /tmp/ansible-venv && /tmp/ansible-venv/bin/pip install ansible``,
named by ``ANSIBLE_PLAYBOOK=/tmp/ansible-venv/bin/ansible-playbook`` (or that bin/ on PATH
after the project's python), and a checkout of dev-sec/ansible-collection-hardening (its
``roles/os_hardening``, ``roles/ssh_hardening``, ``roles/nginx_hardening``) named by
DEVSEC_COLLECTION.

For each size, a fresh bed is hardened by dev-sec (first run, rerun), torn down, and a fresh
bed of the same size is hardened by ``deploys/harden.py`` (first run, rerun). The testbed
hosts are containers (systemd in a chroot with its own namespaces), so dev-sec's tasks that
need a kernel of their own are switched off with dev-sec's own variables (``CONTAINER_VARS``);
ours report the same items as not applicable there.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from harden import measure  # noqa: E402

ROLES = ("os_hardening", "ssh_hardening", "nginx_hardening")


def bed_env(hosts: int) -> dict[str, str]:
    """One bed per size, so sizes can run at once: 10.77.159 (1 host), 10.77.166-169 (more)."""
    return {
        "HARDENING_TESTBED_PREFIX": f"hbdevsec{hosts}",
        "HARDENING_TESTBED_NET_OFFSET": "158" if hosts == 1 else "165",
        "HARDENING_TESTBED_STATE": f"/run/hbdevsec{hosts}",
    }


#: dev-sec variables for hosts that are containers: kernel.* sysctls are read-only
#: (os_sysctl_enabled), there is no kernel audit subsystem for auditd (os_auditd_enabled),
#: and /dev, /dev/shm and /run are the container's own mounts, not remountable with options.
CONTAINER_VARS = {
    "os_sysctl_enabled": False,
    "os_auditd_enabled": False,
    "os_mnt_dev_enabled": False,
    "os_mnt_dev_shm_enabled": False,
    "os_mnt_run_enabled": False,
}
#: dev-sec's nginx_hardening generates 4096-bit DH parameters by default (``openssl dhparam
#: 4096``: many minutes of CPU on a shared 2-core machine, unbounded run to run); 2048 keeps the
#: task and makes dev-sec's times a lower bound of its default. Ours uses no DH parameters
#: (ECDHE only).
BENCH_VARS = {"nginx_dh_size": "2048"}
_RECAP = re.compile(r"^(?P<host>\S+)\s*:\s*ok=\d+\s+changed=(?P<changed>\d+)", re.MULTILINE)


def ansible_playbook() -> str:
    """$ANSIBLE_PLAYBOOK, else ansible-playbook on PATH ("" when neither)."""
    return os.environ.get("ANSIBLE_PLAYBOOK") or shutil.which("ansible-playbook") or ""


def missing() -> str:
    if importlib.util.find_spec("pyinfra") is None:
        return (
            f"{sys.executable} has no pyinfra: run this with the project's python (a virtualenv's "
            "bin/ first on PATH makes `python3` that virtualenv's; set ANSIBLE_PLAYBOOK instead)"
        )
    if not ansible_playbook():
        return (
            "ansible-playbook not found (pip install ansible into a virtualenv and set "
            "ANSIBLE_PLAYBOOK to its bin/ansible-playbook, or put that bin/ on PATH)"
        )
    collection = os.environ.get("DEVSEC_COLLECTION", "")
    if not collection or not all((Path(collection) / "roles" / r).is_dir() for r in ROLES):
        return "DEVSEC_COLLECTION does not point at a dev-sec/ansible-collection-hardening checkout"
    return ""


def _playbook(tmp: Path, bed: object, ssh_key: str) -> tuple[Path, Path]:
    inventory = tmp / "hosts.ini"
    inventory.write_text(
        "[all]\n"
        + "".join(
            f"{h.name} ansible_host={h.address} ansible_user=root "
            f"ansible_ssh_private_key_file={ssh_key} ansible_python_interpreter=/usr/bin/python3 "
            "ansible_ssh_common_args='-o StrictHostKeyChecking=no "
            "-o UserKnownHostsFile=/dev/null'\n"
            for h in bed.hosts  # type: ignore[attr-defined]
        )
    )
    playbook = tmp / "devsec.yml"
    roles = "\n".join(f"    - {role}" for role in ROLES)
    variables = "\n".join(
        f"    {key}: {json.dumps(value)}" for key, value in {**CONTAINER_VARS, **BENCH_VARS}.items()
    )
    playbook.write_text(f"- hosts: all\n  become: true\n  vars:\n{variables}\n  roles:\n{roles}\n")
    return inventory, playbook


def run_devsec(hosts: int) -> dict:
    """dev-sec first run and rerun on a fresh bed: seconds and changed tasks (max per host)."""
    from hardening import testbed

    env = {**os.environ, **bed_env(hosts)}
    config = testbed.BedConfig.from_env(env)
    bed = testbed.up(hosts, "services", config)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            inventory, playbook = _playbook(Path(tmp), bed, str(config.ssh_key))
            run_env = {
                **env,
                "ANSIBLE_ROLES_PATH": str(Path(env["DEVSEC_COLLECTION"]) / "roles"),
                "ANSIBLE_HOST_KEY_CHECKING": "False",
                "ANSIBLE_PIPELINING": "True",
                "ANSIBLE_FORKS": str(max(hosts, 5)),
                "ANSIBLE_NOCOLOR": "1",
            }
            runs = []
            for _ in range(2):
                started = time.perf_counter()
                done = subprocess.run(
                    [ansible_playbook(), "-i", str(inventory), str(playbook)],
                    env=run_env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                seconds = time.perf_counter() - started
                if done.returncode != 0:
                    raise SystemExit(f"dev-sec failed on {hosts} host(s):\n{done.stdout[-3000:]}")
                changed = [int(m.group("changed")) for m in _RECAP.finditer(done.stdout)]
                runs.append((seconds, max(changed, default=0)))
    finally:
        testbed.down(config)
    return {
        "devsec_first_s": runs[0][0],
        "devsec_rerun_s": runs[1][0],
        "devsec_first_changed": runs[0][1],
        "devsec_rerun_changed": runs[1][1],
    }


def run_ours(hosts: int) -> dict:
    """``deploys/harden.py`` first run and rerun on a fresh bed of the same size and network."""
    return {f"ours_{key}": value for key, value in measure(hosts, bed_env(hosts)).items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    reason = missing()
    if reason:
        print(f"devsec benchmark skipped: {reason}. See this file's docstring.")
        return 0
    rows = []
    for count in args.hosts:
        devsec = run_devsec(count)
        print(f"dev-sec on {count} host(s): {devsec}", file=sys.stderr, flush=True)
        rows.append({"hosts": count, **devsec, **run_ours(count)})
    print(
        "| hosts | dev-sec first s | dev-sec rerun s | ours first s | ours rerun s "
        "| ours/dev-sec first | ours/dev-sec rerun | changed on rerun (dev-sec / ours) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        print(
            f"| {row['hosts']} | {row['devsec_first_s']:.1f} | {row['devsec_rerun_s']:.1f} "
            f"| {row['ours_first_s']:.1f} | {row['ours_rerun_s']:.1f} "
            f"| {row['ours_first_s'] / row['devsec_first_s']:.2f}x "
            f"| {row['ours_rerun_s'] / row['devsec_rerun_s']:.2f}x "
            f"| {row['devsec_rerun_changed']} / {row['ours_rerun_changes']} |"
        )
    print(
        f"\ndev-sec roles: {', '.join(ROLES)}; container variables: "
        + ", ".join(f"{k}={v}" for k, v in {**CONTAINER_VARS, **BENCH_VARS}.items())
        + ". Ours: deploys/harden.py (every enforceable checklist item)."
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
