"""SEC-09's LUKS operation for real, on loop devices of this machine (pyinfra ``@local``).

What this kernel allows is tested for real: a device with a filesystem is refused and left
byte-for-byte untouched; without device-mapper (dm_mod) the whole volume is refused up front
with one line, before anything is formatted; the format step alone (``luks_format``, which
needs no device-mapper) makes a blank loop device LUKS2 with a 0600 key file that no output
shows, and runs a second time without changes. Opening, mkfs and mounting need dm-crypt:
their commands are covered by tests/unit/test_storage_unit.py (and run for real only on a
kernel with device-mapper, where the second test is skipped).

On the testbed's hosts (containers sharing this kernel): SEC-09's evidence names the missing
device-mapper, deploys/storage.py changes nothing where no device is requested, and a blank
loop device requested on tb1 is refused before anything is written.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardening.operations.storage import NO_DEVICE_MAPPER
from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes, statuses

ROOT = Path(__file__).resolve().parents[2]
MAPPING = "hbx3test"
TOOLS = ("losetup", "cryptsetup", "blkid", "mkfs.ext4")


def _device_mapper() -> bool:
    return "device-mapper" in Path("/proc/misc").read_text().split()


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A 48 MiB loop device over a sparse file (detached afterwards, also on failure)."""
    if os.geteuid() != 0 or not all(shutil.which(tool) for tool in TOOLS):
        pytest.skip(f"needs root and {', '.join(TOOLS)} (scripts/setup.sh installs them)")
    image = tmp_path / "volume.img"
    with image.open("wb") as handle:
        handle.truncate(48 * 1024 * 1024)
    attached = subprocess.run(
        ["losetup", "-f", "--show", str(image)], capture_output=True, text=True
    )
    if attached.returncode != 0:
        pytest.skip(f"no loop device here: {attached.stderr.strip()}")
    device = attached.stdout.strip()
    try:
        yield device, image
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


def pyinfra(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", "@local", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def deploy(device: str, key_file: Path, mount_point: Path) -> subprocess.CompletedProcess[str]:
    data = {
        "postgres_luks_device": device,
        "postgres_luks_mapping": MAPPING,
        "postgres_luks_mount_point": str(mount_point),
        "postgres_luks_key_file": str(key_file),
    }
    options = [part for key, value in data.items() for part in ("--data", f"{key}={value}")]
    return pyinfra(*options, "deploys/storage.py")


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    """pyinfra's one-line operation error (the line a person reads)."""
    lines = [line for line in done.stderr.splitlines() if line.startswith("--> Operation error")]
    assert done.returncode != 0 and len(lines) == 1, done.stdout + done.stderr
    return lines[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_device_with_a_filesystem_is_refused_and_left_untouched(loop, tmp_path: Path) -> None:
    device, image = loop
    subprocess.run(["mkfs.ext4", "-q", "-L", "precious", device], check=True)
    before = sha256(image)
    key_file = tmp_path / "keys" / "k.key"
    done = deploy(device, key_file, tmp_path / "mnt")
    assert f"refusing to format {device}: it carries data (TYPE=ext4 LABEL=precious)" in (
        error_line(done)
    )
    assert sha256(image) == before
    assert not key_file.exists() and not (tmp_path / "mnt").exists()


@pytest.mark.skipif(_device_mapper(), reason="this kernel has device-mapper")
def test_without_device_mapper_the_volume_is_refused_before_anything_is_formatted(
    loop, tmp_path: Path
) -> None:
    device, _ = loop
    key_file = tmp_path / "keys" / "k.key"
    done = deploy(device, key_file, tmp_path / "mnt")
    assert NO_DEVICE_MAPPER in error_line(done)
    blank = subprocess.run(["blkid", "-p", device], capture_output=True)
    assert blank.returncode == 2, blank.stdout  # blkid: nothing found, still blank
    assert not key_file.exists()


def test_blank_device_becomes_luks2_with_a_private_key_never_shown(loop, tmp_path: Path) -> None:
    device, _ = loop
    key_file = tmp_path / "keys" / "k.key"
    operation = [
        "hardening.operations.storage.luks_format",
        f"device={device}",
        f"mapping={MAPPING}",
        f"key_file={key_file}",
    ]
    first = pyinfra(*operation)
    assert first.returncode == 0, first.stdout + first.stderr
    assert pyinfra_changes(first) == 1
    subprocess.run(["cryptsetup", "isLuks", device], check=True)
    dump = subprocess.run(["cryptsetup", "luksDump", device], capture_output=True, text=True)
    assert "Version:       \t2" in dump.stdout and f"Label:         \t{MAPPING}" in dump.stdout
    assert "cipher: aes-xts-plain64" in dump.stdout
    info = key_file.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == 0 and info.st_size == 64
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    unlocks = subprocess.run(
        ["cryptsetup", "open", "--test-passphrase", "--key-file", str(key_file), device]
    )
    assert unlocks.returncode == 0

    again = pyinfra(*operation)
    assert again.returncode == 0 and pyinfra_changes(again) == 0, again.stdout + again.stderr
    # the whole volume on the formatted device: refused with one line (no device-mapper),
    # or with a key that does not unlock it; nothing is formatted a second time
    uuid = subprocess.run(
        ["blkid", "-p", "-s", "UUID", "-o", "value", device], text=True, capture_output=True
    ).stdout.strip()
    stranger = deploy(device, tmp_path / "other.key", tmp_path / "mnt")
    assert "does not unlock" in error_line(stranger)
    if not _device_mapper():
        assert NO_DEVICE_MAPPER in error_line(deploy(device, key_file, tmp_path / "mnt"))
    assert (
        subprocess.run(
            ["blkid", "-p", "-s", "UUID", "-o", "value", device], text=True, capture_output=True
        ).stdout.strip()
        == uuid
    )

    key = key_file.read_bytes()
    shown = "".join(d.stdout + d.stderr for d in (first, again, stranger))
    for form in (key.hex(), base64.b64encode(key).decode(), key.decode("latin-1")):
        assert form not in shown


def test_testbed_hosts_report_the_reason_and_are_never_half_applied(
    module_bed, tmp_path: Path
) -> None:
    _, report = audit_json(module_bed, tmp_path)
    assert statuses(report)[("tb1", "SEC-09")] == "fail"  # fresh: no encrypted backups yet
    seen = evidence(report, "tb1", "SEC-09")
    assert "no backup repository configured" in seen and "not observable from inside" in seen
    if not _device_mapper():
        assert "the kernel has no device-mapper (dm_mod)" in seen

    nothing = module_bed.pyinfra("deploys/storage.py")
    assert nothing.returncode == 0, nothing.stderr
    shown = nothing.stdout + nothing.stderr
    assert re.search(r"Grand total\s+-\s+-\s+-\s+-", shown), shown  # no operation at all

    if _device_mapper():
        return
    # tb1 sees this machine's /dev: a loop device attached there is a real blank block device
    device = module_bed.run(
        "tb1", "truncate -s 48M /root/luks.img && losetup -f --show /root/luks.img"
    ).strip()
    try:
        done = module_bed.pyinfra(
            "--limit", "tb1", "--data", f"postgres_luks_device={device}", "deploys/storage.py"
        )
        assert NO_DEVICE_MAPPER in error_line(done)
        blank = module_bed.ssh("tb1", f"blkid -p {device}")
        assert blank.returncode == 2, blank.stdout  # blkid: nothing found
        assert module_bed.ssh("tb1", "test ! -e /etc/hardening/luks").returncode == 0
    finally:
        module_bed.ssh("tb1", f"losetup -d {device}; rm -f /root/luks.img")
