"""Pure logic of the testbed: boot script, state file, image keys, cgroups, CLI, processes."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from hardening.testbed import BedConfig, TestbedError, images, main, preflight
from hardening.testbed.addressing import plan_hosts
from hardening.testbed.bootscript import BootPlan, render
from hardening.testbed.cgroups import CgroupLayout, detect_layout
from hardening.testbed.images import PROFILES, BuildInputs, Profile, image_for, image_key
from hardening.testbed.network import firewall_rules
from hardening.testbed.procs import ProcRef
from hardening.testbed.state import BedState, HostState, StateStore

OVERLAY = BootPlan(
    "tb1",
    Path("/state/hosts/tb1/root"),
    1,
    Path("/state/hosts/tb1/console.log"),
    lower=Path("/cache/layers/x"),
    upper=Path("/state/hosts/tb1/upper"),
    work=Path("/state/hosts/tb1/work"),
)


def _lines(script: str) -> list[str]:
    return [line.strip() for line in script.splitlines()]


def test_boot_script_mount_sequence() -> None:
    lines = _lines(render(OVERLAY))
    expected_order = [
        "mount --make-rprivate /",
        "mount -t overlay overlay -o lowerdir=/cache/layers/x,upperdir=/state/hosts/tb1/upper,"
        'workdir=/state/hosts/tb1/work "$root"',
        'mount -t proc -o nosuid,nodev,noexec proc "$root/proc"',
        'mount -o remount,bind,ro "$root/proc/sys"',
        'mount -o remount,bind,rw "$root/proc/sys/net"',
        'mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"',
        'mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$root/run"',
        'mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/tmp"',
        'mount -t cgroup -o none,name=systemd cgroup "$root/sys/fs/cgroup/systemd"',
        'mount -o remount,ro "$root/sys/fs/cgroup"',
        'mount --rbind /dev "$root/dev"',
        'mount --bind /state/hosts/tb1/console.log "$root/dev/console"',
        "hostname tb1",
        'chroot "$root" /lib/systemd/systemd --system',
    ]
    positions = [lines.index(line) for line in expected_order]
    assert positions == sorted(positions)
    assert "exec unshare --mount --pid --fork --kill-child --uts --ipc --cgroup" in render(OVERLAY)
    assert "exec env -i container=lxc" in render(OVERLAY)


def test_boot_script_unpacked_root_and_cgroup2() -> None:
    plan = replace(OVERLAY, lower=None, upper=None, work=None, cgroup_version=2)
    script = render(plan)
    assert 'mount --bind "$root" "$root"' in script
    assert "overlay" not in script
    assert 'mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$root/sys/fs/cgroup"' in script
    assert "name=systemd" not in script


def test_boot_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n"], input=render(OVERLAY), text=True, check=True)


def _state() -> BedState:
    hosts = [
        HostState(spec, f"/state/hosts/{spec.name}", f"/state/hosts/{spec.name}/root",
                  f"/cg/host-{spec.name}", f"/cg/forward-{spec.name}")
        for spec in plan_hosts(2, "hbtb")
    ]  # fmt: skip
    hosts[0].boot = ProcRef(100, 5)
    hosts[0].init = ProcRef(101, 6)
    return BedState("services", "/layer", "/img.tar.zst", True, "/cg", "hbtb_testbed",
                    "mirror.example", hosts)  # fmt: skip


def test_state_round_trip(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    assert store.load() is None
    store.save(_state())
    loaded = store.load()
    assert loaded == _state()
    assert loaded is not None
    assert loaded.host("tb1").procs() == [ProcRef(101, 6), ProcRef(100, 5)]
    with pytest.raises(TestbedError, match="no host 'tb9'"):
        loaded.host("tb9")
    store.remove()
    assert store.load() is None


def test_state_file_garbage(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(TestbedError, match="unreadable"):
        StateStore(tmp_path / "state.json").load()


INPUTS = BuildInputs("http://mirror.example/debian", "deb ...\n", "", "ssh-ed25519 AAAA test")


def test_image_key_is_stable_and_tracks_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    base, services = PROFILES["base"], PROFILES["services"]
    assert image_key(services, INPUTS) == image_key(services, INPUTS)
    assert image_key(base, INPUTS) != image_key(services, INPUTS)
    more = Profile("services", "base", (*services.packages, "haproxy"), services.dropins)
    assert image_key(more, INPUTS) != image_key(services, INPUTS)
    other_key = replace(INPUTS, ssh_pubkey="ssh-ed25519 BBBB other")
    assert image_key(base, other_key) != image_key(base, INPUTS)
    before = image_key(services, INPUTS)
    monkeypatch.setitem(PROFILES, "base", Profile("base", packages=("extra",)))
    assert image_key(services, INPUTS) != before  # a parent change rebuilds its children


def test_image_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = BedConfig(cache_dir=tmp_path)
    image = image_for(config, "services", INPUTS)
    key = image_key(PROFILES["services"], INPUTS)
    assert image.layer == tmp_path / f"layers/bookworm-services-{key}"
    monkeypatch.setattr("shutil.which", lambda tool: None)  # no zstd: gzip
    assert image_for(config, "services", INPUTS).tarball.name.endswith(f"{key}.tar.gz")
    (tmp_path / "images").mkdir()
    (tmp_path / f"images/bookworm-services-{key}.tar.zst").touch()  # an existing one wins
    assert image_for(config, "services", INPUTS).tarball.name.endswith(".tar.zst")
    with pytest.raises(TestbedError, match="unknown profile 'nope'"):
        image_for(config, "nope", INPUTS)


HYBRID = """\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""


def test_detect_cgroup_layout() -> None:
    assert detect_layout(HYBRID) == CgroupLayout(1, Path("/sys/fs/cgroup/systemd"))
    unified = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec 0 0\n"
    assert detect_layout(unified) == CgroupLayout(2, Path("/sys/fs/cgroup"))
    with pytest.raises(TestbedError, match="no usable cgroup hierarchy"):
        detect_layout("proc /proc proc rw 0 0\n")


def test_firewall_rules_only_forward_between_testbed_veths() -> None:
    rules = firewall_rules("hbtb_testbed", "hbtb")
    assert "table inet hbtb_testbed" in rules
    assert 'iifname "hbtb*" oifname "hbtb*" accept' in rules
    assert 'iifname "hbtb*" reject' in rules


def test_not_root_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(TestbedError) as error:
        preflight.check_privileges()
    assert "needs root" in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda tool: None if tool == "socat" else "/bin/x")
    with pytest.raises(TestbedError, match=r"missing socat: run `apt-get install socat`"):
        preflight.check_tools()


def test_missing_debootstrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda tool: None)
    with pytest.raises(TestbedError, match=r"debootstrap is not installed: run `apt-get install"):
        images._debootstrap(tmp_path / "rootfs", INPUTS)


def test_cli_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("up", "down", "status", "ssh", "build"):
        assert command in out


def test_cli_without_a_bed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HARDENING_TESTBED_STATE", str(tmp_path))
    monkeypatch.setenv("HARDENING_CACHE", str(tmp_path / "cache"))
    assert main(["status"]) == 1
    assert "no testbed is up" in capsys.readouterr().out
    assert main(["down"]) == 0
    assert "nothing to tear down" in capsys.readouterr().err
    with pytest.raises(TestbedError, match="no testbed is up"):
        main(["ssh", "tb1", "true"])


def test_config_from_env(tmp_path: Path) -> None:
    config = BedConfig.from_env(
        {
            "HARDENING_CACHE": str(tmp_path),
            "HARDENING_TESTBED_STATE": "/run/x",
            "HARDENING_TESTBED_PREFIX": "hbx",
            "HARDENING_TESTBED_NET_OFFSET": "40",
        }
    )
    assert config.cache_dir == tmp_path / "testbed"
    assert config.ssh_key == tmp_path / "testbed/id_ed25519"
    assert config.inventory_file == Path("/run/x/inventory.json")
    assert (config.prefix, config.net_offset) == ("hbx", 40)
    with pytest.raises(TestbedError, match="must be a number"):
        BedConfig.from_env({"HARDENING_TESTBED_NET_OFFSET": "x"})


def test_procref_kills_only_the_recorded_process() -> None:
    proc = subprocess.Popen(["sleep", "30"])
    ref = ProcRef.of(proc.pid)
    assert ref.alive()
    assert not ProcRef(proc.pid, ref.start + 1).alive()  # same PID, another process
    ProcRef(proc.pid, ref.start + 1).kill()
    assert proc.poll() is None
    ref.kill()
    assert ref.wait_gone(5)
    assert not ref.alive()
    proc.wait(5)  # already reaped by ProcRef: no zombie, nothing left to wait for
