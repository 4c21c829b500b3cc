"""Addressing, groups and inventory of a bed (hardening.testbed.addressing / .inventory)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hardening.testbed import GROUPS, BedConfig, TestbedError, load_inventory
from hardening.testbed.addressing import etc_hosts, host_groups, plan_hosts
from hardening.testbed.inventory import NOT_UP, inventory_document, pyinfra_groups, write_json

REPO = Path(__file__).resolve().parents[2]


def test_plan_hosts_names_and_addresses() -> None:
    tb1, tb2 = plan_hosts(2, "hbtb")
    assert (tb1.name, tb1.address, tb1.gateway, tb1.netns, tb1.veth) == (
        "tb1", "10.77.1.2", "10.77.1.1", "hbtb1", "hbtb1h"
    )  # fmt: skip
    assert (tb2.name, tb2.address, tb2.gateway, tb2.netns, tb2.veth) == (
        "tb2", "10.77.2.2", "10.77.2.1", "hbtb2", "hbtb2h"
    )  # fmt: skip


def test_plan_hosts_offset_and_limits() -> None:
    (host,) = plan_hosts(1, "hbtd", net_offset=60)
    assert (host.name, host.address, host.netns) == ("tb1", "10.77.61.2", "hbtd1")
    for count in (0, 21):
        with pytest.raises(TestbedError, match="cannot start"):
            plan_hosts(count, "hbtb")
    with pytest.raises(TestbedError, match="no room"):
        plan_hosts(10, "hbtb", net_offset=250)


@pytest.mark.parametrize("prefix", ["", "1abc", "UPPER", "waytoolongprefix", "a-b"])
def test_invalid_prefix(prefix: str) -> None:
    with pytest.raises(TestbedError, match="invalid testbed prefix"):
        BedConfig(cache_dir=Path("/tmp"), prefix=prefix)


def test_groups() -> None:
    assert host_groups(1) == ("web", "db_primary", "cache", "monitoring")
    assert host_groups(2) == ("db_replica",)
    assert host_groups(3) == ("web",)
    assert [h.groups for h in plan_hosts(1, "hbtb")] == [
        ("web", "db_primary", "cache", "monitoring")
    ]


def test_etc_hosts_names_the_bed_and_maps_the_mirror_to_the_gateway() -> None:
    specs = plan_hosts(2, "hbtb")
    text = etc_hosts(specs[1], specs, "mirror.example")
    assert "10.77.1.2\ttb1\n" in text
    assert "10.77.2.2\ttb2\n" in text
    assert "10.77.2.1\tmirror.example\t" in text
    assert text.startswith("127.0.0.1\tlocalhost\n")


def _document(count: int = 2) -> dict:
    return inventory_document(
        plan_hosts(count, "hbtb"), Path("/cache/id_ed25519"), Path("/state/known_hosts"), "services"
    )


def test_inventory_document_format() -> None:
    document = _document(2)
    assert document == {
        "hosts": [
            {
                "name": "tb1",
                "address": "10.77.1.2",
                "ssh_key": "/cache/id_ed25519",
                "ssh_user": "root",
                "groups": ["web", "db_primary", "cache", "monitoring"],
                "data": {
                    "testbed_gateway": "10.77.1.1",
                    "testbed_netns": "hbtb1",
                    "testbed_profile": "services",
                    "testbed_container": "lxc",
                },
            },
            {
                "name": "tb2",
                "address": "10.77.2.2",
                "ssh_key": "/cache/id_ed25519",
                "ssh_user": "root",
                "groups": ["db_replica"],
                "data": {
                    "testbed_gateway": "10.77.2.1",
                    "testbed_netns": "hbtb2",
                    "testbed_profile": "services",
                    "testbed_container": "lxc",
                },
            },
        ],
        "ssh_known_hosts_file": "/state/known_hosts",
    }
    json.dumps(document)  # serialisable as is


def test_pyinfra_groups() -> None:
    groups = pyinfra_groups(_document(3))
    assert set(groups) == set(GROUPS)
    assert [name for name, _ in groups["web"]] == ["tb1", "tb3"]
    assert [name for name, _ in groups["db_replica"]] == ["tb2"]
    assert [name for name, _ in groups["db_primary"]] == ["tb1"]
    name, data = groups["cache"][0]
    assert name == "tb1"
    assert data["ssh_hostname"] == "10.77.1.2"
    assert data["ssh_user"] == "root"
    assert data["ssh_key"] == "/cache/id_ed25519"
    assert data["ssh_known_hosts_file"] == "/state/known_hosts"
    assert data["ssh_strict_host_key_checking"] == "yes"
    assert data["testbed_gateway"] == "10.77.1.1"


def test_pyinfra_groups_one_host_has_no_replica() -> None:
    groups = pyinfra_groups(_document(1))
    assert groups["db_replica"] == []
    assert all(groups[g][0][0] == "tb1" for g in ("web", "db_primary", "cache", "monitoring"))


def test_load_inventory(tmp_path: Path) -> None:
    with pytest.raises(TestbedError, match="no testbed is up"):
        load_inventory(tmp_path / "inventory.json")
    write_json(tmp_path / "inventory.json", _document(2))
    assert load_inventory(tmp_path / "inventory.json") == pyinfra_groups(_document(2))


def _run_inventory_file(state_dir: Path) -> subprocess.CompletedProcess[str]:
    code = (
        "import runpy, json; g = runpy.run_path('inventories/testbed.py'); "
        "print(json.dumps({k: g[k] for k in ('web', 'db_primary', 'db_replica', 'cache', "
        "'monitoring')}))"
    )
    env = {"HARDENING_TESTBED_STATE": str(state_dir), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )


def test_inventory_file_without_a_bed_exits_2(tmp_path: Path) -> None:
    proc = _run_inventory_file(tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"inventories/testbed.py: {NOT_UP}"


def test_inventory_file_groups(tmp_path: Path) -> None:
    write_json(tmp_path / "inventory.json", _document(2))
    proc = _run_inventory_file(tmp_path)
    assert proc.returncode == 0, proc.stderr
    groups = json.loads(proc.stdout)
    assert [h[0] for h in groups["web"]] == ["tb1"]
    assert [h[0] for h in groups["db_replica"]] == ["tb2"]
    assert groups["db_replica"][0][1]["ssh_hostname"] == "10.77.2.2"
