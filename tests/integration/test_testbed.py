"""The testbed itself: hosts boot with systemd as PID 1, run the services, are reachable
over SSH and through pyinfra, and leave nothing behind when torn down."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hardening.testbed import Bed, BedConfig, TestbedError, lifecycle, up
from hardening.testbed.procs import ProcRef
from hardening.testbed.state import BedState, HostState, StateStore

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_hosts_boot_and_answer_over_ssh(testbed: Bed) -> None:
    assert [h.name for h in testbed.hosts] == ["tb1", "tb2"]
    for host in testbed.hosts:
        assert testbed.run(host, "hostname").strip() == host.name
        assert f"inet {host.address}/24" in testbed.run(host, "ip -4 -o addr show dev eth0")
        assert testbed.run(host, "ip route show default").startswith(f"default via {host.gateway}")


def test_status_reports_every_host_running(testbed: Bed) -> None:
    rows = testbed.status()
    assert [r.name for r in rows] == ["tb1", "tb2"]
    for row in rows:
        assert row.pid_alive and row.ssh_reachable, row
        assert (row.systemd_state, row.failed_units) == ("running", ()), row


def test_systemd_is_pid_1_in_a_container(testbed: Bed) -> None:
    for host in testbed.hosts:
        assert testbed.run(host, "readlink /proc/1/exe").strip().endswith("/systemd")
        assert testbed.run(host, "systemd-detect-virt --container").strip() == "lxc"


def test_services_profile_runs_postgres_redis_nginx(testbed: Bed) -> None:
    for host in testbed.hosts:
        units = ("postgresql@15-main", "redis-server", "nginx")
        assert testbed.run(host, ["systemctl", "is-active", *units]).split() == ["active"] * 3
        assert "15  main    5432 online" in testbed.run(host, "pg_lsclusters")
        assert testbed.run(host, "redis-cli ping").strip() == "PONG"
        assert testbed.run(host, "curl -s -o /dev/null -w %{http_code} http://localhost/") == "200"


def test_net_sysctls_are_writable_and_kernel_sysctls_read_only(testbed: Bed) -> None:
    net_key, kernel_key = "net.ipv4.conf.eth0.log_martians", "kernel.randomize_va_space"
    for key in (net_key, kernel_key):
        value = testbed.run("tb1", ["sysctl", "-n", key]).strip()
        proc = testbed.ssh("tb1", ["sysctl", "-w", f"{key}={value}"])  # same value: no change
        assert (proc.returncode == 0) == (key == net_key), proc.stderr


def test_nftables_ruleset_is_per_host(testbed: Bed) -> None:
    testbed.run("tb1", "nft add table inet testbed_probe")
    try:
        assert "table inet testbed_probe" in testbed.run("tb1", "nft list ruleset")
        assert "testbed_probe" not in testbed.run("tb2", "nft list ruleset")
    finally:
        testbed.run("tb1", "nft delete table inet testbed_probe")


def test_hosts_reach_each_other_but_not_the_outside(testbed: Bed) -> None:
    testbed.run("tb2", "timeout 5 bash -c '</dev/tcp/tb1/22'")
    started = time.monotonic()
    proc = testbed.ssh("tb1", "timeout 5 bash -c '</dev/tcp/192.0.2.1/80'")
    assert proc.returncode != 0
    assert time.monotonic() - started < 4, "outside traffic should be rejected at once"


def test_apt_update_works_through_the_mirror_forward(testbed: Bed) -> None:
    out = testbed.run("tb1", "timeout 120 apt-get update -q 2>&1", timeout=150)
    assert "Reading package lists" in out
    assert "Err:" not in out


def test_inventory_json_and_pyinfra(testbed: Bed) -> None:
    document = json.loads(testbed.inventory_path.read_text())
    assert [(h["name"], h["address"], h["groups"]) for h in document["hosts"]] == [
        ("tb1", "10.77.1.2", ["web", "db_primary", "cache", "monitoring"]),
        ("tb2", "10.77.2.2", ["db_replica"]),
    ]
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
           "HARDENING_TESTBED_STATE": str(testbed.config.state_dir)}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", "inventories/testbed.py", "exec", "--",
         "uname", "-a"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = proc.stdout + proc.stderr  # pyinfra prints to stderr
    assert proc.returncode == 0, output
    assert "[tb1] Linux tb1" in output
    assert "[tb2] Linux tb2" in output


def test_up_refuses_while_a_bed_is_up(testbed: Bed) -> None:
    with pytest.raises(TestbedError, match="already up"):
        up(1, "base", testbed.config)


# -- beds of their own: teardown ---------------------------------------------------------------


def _own_config(tmp_path: Path, prefix: str, offset: int) -> BedConfig:
    """A bed beside the session's: own prefix, subnets and state dir, shared image cache."""
    return BedConfig(
        cache_dir=BedConfig.from_env().cache_dir,
        state_dir=tmp_path / "state",
        prefix=prefix,
        net_offset=offset,
    )


def _mounts() -> set[str]:
    return {line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()}


def _leftovers(config: BedConfig, state: BedState, mounts_before: set[str]) -> list[str]:
    """Everything of a torn-down bed that still exists."""
    left = [f"mount {m}" for m in _mounts() - mounts_before - {"/run/netns"}]
    left += [f"mount {m}" for m in _mounts() if str(config.state_dir) in m]
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    left += [f"netns {n}" for n in netns.split() if n.startswith(config.prefix)]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    left += [f"link {line.split()[1]}" for line in links.splitlines()
             if line.split()[1].startswith(config.prefix)]  # fmt: skip
    procs: list[ProcRef] = [p for h in state.hosts for p in h.procs()]
    left += [f"process {p.pid}" for p in procs if p.alive()]
    if Path(state.cgroup_root).exists():
        left.append(f"cgroup {state.cgroup_root}")
    nft = subprocess.run(["nft", "list", "table", "inet", state.firewall_table],
                         capture_output=True, text=True)  # fmt: skip
    if nft.returncode == 0:
        left.append(f"nft table {state.firewall_table}")
    if config.state_dir.exists():
        left.append(f"state dir {config.state_dir}: {sorted(config.state_dir.rglob('*'))[:5]}")
    return left


def test_down_leaves_nothing_behind(privileged: None, tmp_path: Path) -> None:
    config = _own_config(tmp_path, "hbtd", 60)
    mounts_before = _mounts()
    bed = up(2, "base", config)
    state = bed.state
    assert len([p for h in state.hosts for p in h.procs() if p.alive()]) == 6
    assert bed.run("tb2", "hostname").strip() == "tb2"
    lifecycle.down(config)
    assert _leftovers(config, state, mounts_before) == []
    lifecycle.down(config)  # idempotent


@pytest.mark.parametrize("failure", [TestbedError("injected failure"), KeyboardInterrupt()])
def test_failed_or_interrupted_up_cleans_up(
    privileged: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    config = _own_config(tmp_path, "hbtf", 70)
    mounts_before = _mounts()
    states: list[BedState] = []
    real_teardown, real_wait = lifecycle._teardown, lifecycle._Starter._wait_ready

    def recording_teardown(config: BedConfig) -> None:
        state = StateStore(config.state_file).load()
        assert state is not None
        states.append(state)
        real_teardown(config)

    def failing_wait(
        self: lifecycle._Starter, host: HostState, deadline: float
    ) -> tuple[str, list[str]]:
        if host.name == "tb2":
            raise failure
        return real_wait(self, host, deadline)

    monkeypatch.setattr(lifecycle, "_teardown", recording_teardown)
    monkeypatch.setattr(lifecycle._Starter, "_wait_ready", failing_wait)
    with pytest.raises(type(failure)):
        up(2, "base", config)
    (state,) = states
    assert state.host("tb2").init is not None  # tb2 had booted when it failed
    assert _leftovers(config, state, mounts_before) == []


def test_unpacked_root_when_overlayfs_is_unavailable(
    privileged: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "_overlay_works", lambda config, lower: False)
    config = _own_config(tmp_path, "hbtu", 80)
    bed = up(1, "base", config)
    try:
        assert not bed.state.overlay
        assert bed.run("tb1", "findmnt -n -o FSTYPE /").strip() != "overlay"
        assert bed.run("tb1", "systemctl is-system-running").strip() == "running"
    finally:
        lifecycle.down(config)
