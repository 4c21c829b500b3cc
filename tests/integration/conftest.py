"""Integration tests run against disposable Debian 12 hosts (`hardening.testbed`).

The session-scoped `testbed` fixture boots two hosts with the ``services`` profile (tb1: web,
db_primary, cache, monitoring; tb2: db_replica) and tears them down at the end of the session,
also when tests fail. Environment:

- ``HARDENING_TESTBED_REUSE=1``: use a bed that is already up (e.g. from
  ``hardening testbed up 2``) and leave it running;
- ``HARDENING_TESTBED_KEEP=1``: leave the bed this session started running (for later runs
  with ``HARDENING_TESTBED_REUSE=1``; stop it with ``hardening testbed down``).

Without root or network namespaces the tests are skipped with the reason. Every test in this
directory is marked ``integration``.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardening.testbed import Bed, BedConfig, TestbedError, down, up
from hardening.testbed.preflight import check_privileges

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def privileged() -> None:
    """Skip unless this machine can run test hosts (root, network namespaces)."""
    try:
        check_privileges()
    except TestbedError as error:
        pytest.skip(f"testbed unavailable: {error}")


@pytest.fixture(scope="session")
def testbed(privileged: None) -> Iterator[Bed]:
    """Two running hosts: ``.hosts``, ``.inventory_path``, ``.ssh(host, cmd)``, ``.run(...)``."""
    config = BedConfig.from_env()
    if os.environ.get("HARDENING_TESTBED_REUSE") == "1":
        bed = Bed.current(config)
        if bed is not None:
            if len(bed.hosts) < 2 or bed.state.profile != "services":
                pytest.fail(
                    "HARDENING_TESTBED_REUSE=1 but the running bed is not 2+ `services` hosts: "
                    "run `hardening testbed down` first"
                )
            yield bed
            return
    bed = up(2, "services", config)
    try:
        yield bed
    finally:
        if os.environ.get("HARDENING_TESTBED_KEEP") != "1":
            down(config)


# Module beds are numbered 1..120; bed N uses subnets 10.77.(2N+1) and 10.77.(2N+2).
# HARDENING_TEST_SLOT (0..9) gives concurrent pytest runs on one machine disjoint numbers.
# A module's bed is torn down before the next module starts, so the numbers cycle.
_SLOT = int(os.environ.get("HARDENING_TEST_SLOT", "0"))
_MODULE_BEDS = itertools.cycle(range(_SLOT * 12 + 1, _SLOT * 12 + 13))


class ModuleBed:
    """A bed of its own for one test module, so modules that change hosts never meet.

    + bed: the ``hardening.testbed.Bed``
    + env: environment for subprocesses (``pyinfra inventories/testbed.py``, ``hardening``)
      so that they find this bed and not another one
    """

    def __init__(self, bed: Bed, env: dict[str, str]) -> None:
        self.bed = bed
        self.env = env
        self.hosts = bed.hosts
        self.inventory = str(HERE.parents[1] / "inventories" / "testbed.py")

    def ssh(self, host: str, command: str, **kwargs):
        return self.bed.ssh(host, command, **kwargs)

    def run(self, host: str, command: str, **kwargs) -> str:
        return self.bed.run(host, command, **kwargs)

    def pyinfra(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """``pyinfra -y inventories/testbed.py ARGS`` against this bed, output captured."""
        return subprocess.run(
            [sys.executable, "-m", "pyinfra", "-y", self.inventory, *args],
            cwd=HERE.parents[1],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def hardening(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """``python3 -m hardening ARGS`` against this bed, output captured."""
        return subprocess.run(
            [sys.executable, "-m", "hardening", *args],
            cwd=HERE.parents[1],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture(scope="module")
def module_bed(privileged: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleBed]:
    """Two fresh `services` hosts for this test module only (torn down after it).

    Each module gets its own prefix, subnets and state directory, so it may harden,
    break and reconfigure its hosts freely.
    """
    number = next(_MODULE_BEDS)
    env = {
        **os.environ,
        "HARDENING_TESTBED_PREFIX": f"hbm{number}",
        "HARDENING_TESTBED_NET_OFFSET": str(2 * number),
        "HARDENING_TESTBED_STATE": str(tmp_path_factory.mktemp(f"bed{number}")),
    }
    config = BedConfig.from_env(env)
    bed = up(2, "services", config)
    try:
        yield ModuleBed(bed, env)
    finally:
        down(config)
