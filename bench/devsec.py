"""Benchmark: dev-sec's ansible-collection-hardening (os, ssh, nginx roles) next to ours.

Runs only when both are present on this machine; otherwise says how to provide them and
exits 0 (skipped). Nothing of dev-sec is vendored in this repository.

    DEVSEC_COLLECTION=/path/to/ansible-collection-hardening python3 bench/devsec.py

Provide them with `pip install ansible-core` and a checkout of
dev-sec/ansible-collection-hardening (its `roles/os_hardening`, `roles/ssh_hardening`,
`roles/nginx_hardening`); set DEVSEC_COLLECTION to the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("os_hardening", "ssh_hardening", "nginx_hardening")


def missing() -> str:
    if not shutil.which("ansible-playbook"):
        return "ansible-playbook not found (pip install ansible-core)"
    collection = os.environ.get("DEVSEC_COLLECTION", "")
    if not collection or not all((Path(collection) / "roles" / r).is_dir() for r in ROLES):
        return "DEVSEC_COLLECTION does not point at a dev-sec/ansible-collection-hardening checkout"
    return ""


def run_devsec(hosts: int) -> dict:
    from hardening import testbed

    env = {
        **os.environ,
        "HARDENING_TESTBED_PREFIX": "hbdevsec",
        "HARDENING_TESTBED_NET_OFFSET": "165",
        "HARDENING_TESTBED_STATE": "/run/hbdevsec",
    }
    config = testbed.BedConfig.from_env(env)
    bed = testbed.up(hosts, "services", config)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            inventory = Path(tmp) / "hosts.ini"
            inventory.write_text(
                "[all]\n"
                + "".join(
                    f"{h.name} ansible_host={h.address} ansible_user=root "
                    f"ansible_ssh_private_key_file={config.ssh_key} "
                    "ansible_ssh_common_args='-o StrictHostKeyChecking=no'\n"
                    for h in bed.hosts
                )
            )
            playbook = Path(tmp) / "devsec.yml"
            roles = "\n".join(f"    - {role}" for role in ROLES)
            playbook.write_text(f"- hosts: all\n  become: true\n  roles:\n{roles}\n")
            run_env = {**env, "ANSIBLE_ROLES_PATH": str(Path(env["DEVSEC_COLLECTION"]) / "roles")}
            timings = []
            for _ in range(2):
                started = time.perf_counter()
                subprocess.run(
                    ["ansible-playbook", "-i", str(inventory), str(playbook)],
                    env=run_env,
                    check=True,
                    capture_output=True,
                )
                timings.append(time.perf_counter() - started)
        return {"hosts": hosts, "devsec_first_s": timings[0], "devsec_rerun_s": timings[1]}
    finally:
        testbed.down(config)


def main() -> int:
    reason = missing()
    if reason:
        print(f"devsec benchmark skipped: {reason}. See this file's docstring.")
        return 0
    for hosts in (1, 4):
        print(run_devsec(hosts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
