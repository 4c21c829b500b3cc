"""Firewall source restrictions and host-level DDoS protection (SEC-04, SEC-07) on real hosts:
fresh hosts fail, deploys/firewall.py makes them pass, a rerun changes nothing, exporters and
databases answer only their clients, the default drop is counted, and a connection flood from
one source is cut."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes, statuses

ITEMS = ("SEC-04", "SEC-07")


@pytest.fixture(scope="module")
def bed(module_bed):
    return module_bed


def reachable(bed, source: str | None, target: str, port: int) -> bool:
    """A TCP connection from a host (``None``: the control node) to ``target:port`` succeeds."""
    address = next(host.address for host in bed.hosts if host.name == target)
    if source is None:
        try:
            socket.create_connection((address, port), timeout=2).close()
            return True
        except OSError:
            return False
    probe = f"timeout 3 bash -c 'exec 3<>/dev/tcp/{address}/{port}' && echo open || echo closed"
    return bed.run(source, probe).strip() == "open"


def audit_expecting(bed, tmp_path: Path, status: str) -> dict:
    """Audit the bed; every item of ITEMS has ``status`` on both hosts. Returns the report."""
    _, report = audit_json(bed, tmp_path)
    found = statuses(report)
    wrong = {
        (host, item): evidence(report, host, item)
        for host in ("tb1", "tb2")
        for item in ITEMS
        if found[(host, item)] != status
    }
    assert not wrong, wrong
    return report


def test_fresh_hosts_fail(bed, tmp_path: Path) -> None:
    report = audit_expecting(bed, tmp_path, "fail")
    assert "no per-source rate limit on 22, 80, 443" in evidence(report, "tb1", "SEC-07")
    assert "rp_filter=0 (want 1)" in evidence(report, "tb2", "SEC-07")
    assert reachable(bed, None, "tb2", 9100)  # Debian's default: node exporter open to all


def test_deploy_makes_them_pass_and_rerun_changes_nothing(bed, tmp_path: Path) -> None:
    first = bed.pyinfra("deploys/firewall.py")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert pyinfra_changes(first) > 0
    report = audit_expecting(bed, tmp_path, "pass")
    assert "rate-limited on 22, 80, 443 (25/second per source)" in evidence(report, "tb1", "SEC-07")
    assert "9100/tcp (prometheus-node) restricted" in evidence(report, "tb2", "SEC-04")
    assert bed.run("tb2", "sysctl -n net.ipv4.conf.all.rp_filter").strip() == "1"
    second = bed.pyinfra("deploys/firewall.py")
    assert second.returncode == 0, second.stdout[-3000:]
    assert pyinfra_changes(second) == 0, second.stdout[-3000:]


def test_exporters_answer_only_monitoring_and_ssh_stays_open(bed) -> None:
    assert reachable(bed, "tb1", "tb2", 9100)  # tb1 is in group monitoring
    assert reachable(bed, "tb1", "tb2", 9187)
    assert not reachable(bed, None, "tb2", 9100)  # the control node is not
    assert not reachable(bed, "tb2", "tb1", 9100)  # neither is tb2 (db_replica)
    assert not reachable(bed, "tb2", "tb1", 9121)
    assert reachable(bed, None, "tb2", 22) and reachable(bed, None, "tb1", 80)


def test_the_default_drop_is_counted(bed) -> None:
    """What no rule accepts is dropped by the last rule, which counts it (the weekly security
    log review reports that counter)."""
    assert not reachable(bed, None, "tb2", 3306)
    last = bed.run("tb2", "nft list chain inet hardening input | grep -B1 -A1 'default-drop'")
    assert last.strip().splitlines()[-1].strip() == "}", last  # the last rule of the chain
    assert "counter packets 0 " not in last, last


def test_a_connection_flood_from_one_source_is_cut(bed) -> None:
    address = next(host.address for host in bed.hosts if host.name == "tb1")
    refused = 0
    for _ in range(150):
        try:
            socket.create_connection((address, 80), timeout=0.3).close()
        except OSError:
            refused += 1
    assert refused > 0
    dropped = bed.run("tb1", "nft list chain inet hardening input | grep 'update @flood_v4'")
    assert "counter packets 0 " not in dropped
    time.sleep(3)  # the token bucket refills: the same source gets through again
    assert reachable(bed, None, "tb1", 80)


def test_bad_sources_stop_the_deploy_before_anything_changes(bed, tmp_path: Path) -> None:
    inventory = tmp_path / "bad.py"
    inventory.write_text(
        "from hardening.testbed import load_inventory\n"
        "db_replica = [(name, {**data, 'firewall_db_sources': ['10.0.0.0/8', 'db.example']})\n"
        "              for name, data in load_inventory()['db_replica']]\n"
    )
    state = "sha256sum /etc/nftables.conf; nft -s list chain inet hardening input"
    before = bed.run("tb2", state)
    done = subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", str(inventory), "deploys/firewall.py"],
        cwd=Path(bed.inventory).parents[1],
        env=bed.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "'db.example' is not an IP address or network" in done.stdout + done.stderr
    assert bed.run("tb2", state) == before
