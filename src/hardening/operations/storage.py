"""Encryption at rest (SEC-09): a LUKS2-encrypted volume for PostgreSQL's data.

Only where the operator asks (``postgres_luks_device``) and never on a device that carries
anything: every refusal is decided from facts before the first command is queued, so a
refused run changes nothing. The key is 64 random bytes generated on the host into a 0600
root-owned file; it is passed to ``cryptsetup`` with ``--key-file`` only (never in argv,
never printed) and unlocks the volume at boot through ``/etc/crypttab``.
"""

from __future__ import annotations

import posixpath
import re
import shlex

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.exceptions import OperationError

from hardening.facts.storage import LuksVolume

#: Where key files live (0700 root).
KEY_DIR = "/etc/hardening/luks"
#: Size of a generated key file in bytes (512 bits of /dev/urandom).
KEY_BYTES = 64
CIPHER = "aes-xts-plain64"
KEY_SIZE_BITS = 512
NO_DEVICE_MAPPER = (
    "not possible here: the kernel has no device-mapper (dm_mod), so a LUKS volume "
    "cannot be opened on this host"
)


def default_key_file(mapping: str) -> str:
    """``/etc/hardening/luks/<mapping>.key``."""
    return f"{KEY_DIR}/{mapping}.key"


def _volume(device: str, mapping: str, mount_point: str, key_file: str, owner: str) -> dict:
    return host.get_fact(
        LuksVolume,
        device=device,
        mapping=mapping,
        mount_point=mount_point,
        key_file=key_file,
        owner=owner,
    )


def refusal(fact: dict, mapping: str, key_file: str, need_open: bool) -> str:
    """Why ``fact``'s device must not be touched (empty: it may). Decided before any change."""
    device = fact["device"]
    if not re.fullmatch(r"/dev/[A-Za-z0-9_.:+/-]+", device):
        return f"device {device!r} must be a /dev path without spaces or quotes"
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", mapping):
        return f"mapping {mapping!r} must be letters, digits, '_', '.' or '-'"
    if not re.fullmatch(r"/[A-Za-z0-9_./-]+", key_file):
        return f"key file {key_file!r} must be an absolute path without spaces or quotes"
    if not fact["block_device"]:
        return f"{device} is not a block device"
    signatures = fact["signatures"]
    if not fact["luks"] and signatures:
        found = " ".join(
            f"{key}={signatures[key]}" for key in ("TYPE", "PTTYPE", "LABEL") if key in signatures
        )
        return (
            f"refusing to format {device}: it carries data ({found or 'a signature'}); "
            "hardening formats only devices where `blkid -p` finds nothing"
        )
    if fact["luks"]:
        label = signatures.get("LABEL", "")
        if label != mapping:
            return f"{device} is already a LUKS volume labelled {label!r}, not {mapping!r}"
        if not fact["key_opens"]:
            return f"{device} is a LUKS volume that {key_file} does not unlock"
    key = fact["key_file"]
    if key is not None and key["size"] < 32:
        return f"{key_file} exists but holds {key['size']} bytes (a key needs at least 32)"
    if need_open and not (fact["device_mapper"] or fact["dm_module"]):
        return NO_DEVICE_MAPPER
    return ""


def _key_file_commands(fact: dict, key_file: str):
    key = fact["key_file"]
    if key is None:
        directory = posixpath.dirname(key_file)
        target = shlex.quote(key_file)
        yield StringCommand(
            f"install -d -m 0700 -o root -g root {shlex.quote(directory)} && (umask 077;"
            f" head -c {KEY_BYTES} /dev/urandom > {target}.tmp) && mv -f {target}.tmp {target}"
        )
    elif (key["mode"], key["owner"]) != ("600", "root"):
        yield StringCommand(f"chown root:root {shlex.quote(key_file)}")
        yield StringCommand(f"chmod 0600 {shlex.quote(key_file)}")
    else:
        host.noop(f"key file {key_file} is 0600 root")


def _format_commands(fact: dict, mapping: str, key_file: str):
    device = shlex.quote(fact["device"])
    if fact["luks"]:
        host.noop(f"{fact['device']} is already LUKS ({mapping}) and {key_file} unlocks it")
        return
    # blkid again at run time: nothing may have appeared on the device since the facts
    yield StringCommand(
        f"if blkid -p {device} >/dev/null 2>&1; then echo 'refusing: {fact['device']} is no"
        " longer blank' >&2; exit 1; fi;"
        f" cryptsetup luksFormat --batch-mode --type luks2 --cipher {CIPHER}"
        f" --key-size {KEY_SIZE_BITS} --label {shlex.quote(mapping)}"
        f" --key-file {shlex.quote(key_file)} {device}"
    )


@operation()
def luks_format(device: str, mapping: str, key_file: str = ""):
    """
    Make an empty block device a LUKS2 volume (aes-xts-plain64, 512-bit key) labelled
    ``mapping``, with a key generated on the host. Needs no device-mapper (nothing is
    opened); the first step of ``luks_volume``. Refuses any device on which ``blkid -p`` finds a
    signature, and a LUKS device with another label or that the key file does not unlock.

    + device: the block device, e.g. ``/dev/vdb`` (a stable ``/dev/disk/by-id/...`` path
      is better)
    + mapping: the dm-crypt name (``/dev/mapper/<mapping>``), also the LUKS label
    + key_file: the key (default ``/etc/hardening/luks/<mapping>.key``), created 0600 root
      with 64 random bytes when absent

    **Example:**

    .. code:: python

        storage.luks_format(device="/dev/vdb", mapping="pgdata")
    """
    key_file = key_file or default_key_file(mapping)
    fact = _volume(device, mapping, "/", key_file, "root")
    problem = refusal(fact, mapping, key_file, need_open=False)
    if problem:
        raise OperationError(problem)
    yield from _key_file_commands(fact, key_file)
    yield from _format_commands(fact, mapping, key_file)


def crypttab_line(mapping: str, uuid: str, key_file: str) -> str:
    """The ``/etc/crypttab`` entry that unlocks the volume at boot."""
    return f"{mapping} UUID={uuid} {key_file} luks"


def fstab_line(mapping: str, mount_point: str) -> str:
    """The ``/etc/fstab`` entry that mounts the opened volume."""
    return f"/dev/mapper/{mapping} {mount_point} ext4 defaults,noatime 0 2"


def _replace_line(path: str, field: int, value: str, line: str) -> StringCommand:
    """Drop lines of ``path`` whose field ``field`` is ``value``, then append ``line``."""
    return StringCommand(
        f"touch {path} && awk -v v={shlex.quote(value)} '${field} != v' {path} > {path}.tmp"
        f" && echo {line} >> {path}.tmp && chmod --reference={path} {path}.tmp"
        f" && mv -f {path}.tmp {path}"
    )


@operation()
def luks_volume(
    device: str,
    mapping: str,
    mount_point: str,
    key_file: str = "",
    owner: str = "postgres",
    mode: str = "0700",
):
    """
    An encrypted volume for PostgreSQL's data: LUKS2 format (see ``luks_format``), open,
    ext4, mounted at ``mount_point`` and unlocked/mounted at boot via ``/etc/crypttab``
    and ``/etc/fstab``. Idempotent: an existing volume of ours is opened and mounted, never
    formatted again. Everything that could stop it (data on the device, another LUKS
    volume, a key that does not unlock it, a non-empty mount point, no device-mapper in the
    kernel) is checked before the first change.

    + device: the empty block device
    + mapping: dm-crypt name and LUKS label, e.g. ``pgdata``
    + mount_point: where the volume is mounted, e.g. ``/var/lib/postgresql``; must be
      absent or an empty directory (existing data is not migrated)
    + key_file: default ``/etc/hardening/luks/<mapping>.key``
    + owner / mode: of the mounted volume's root directory

    **Example:**

    .. code:: python

        storage.luks_volume(
            device="/dev/disk/by-id/virtio-pgdata", mapping="pgdata",
            mount_point="/var/lib/postgresql",
        )
    """
    key_file = key_file or default_key_file(mapping)
    fact = _volume(device, mapping, mount_point, key_file, owner)
    mapper = f"/dev/mapper/{mapping}"
    mounted = fact["mounted"].split()[:1] == [mapper]
    problem = refusal(fact, mapping, key_file, need_open=True)
    place = fact["mount_point"]
    if not problem and not re.fullmatch(r"/[A-Za-z0-9_./-]+", mount_point):
        problem = f"mount point {mount_point!r} must be an absolute path without spaces"
    if not problem and not fact["owner_exists"]:
        problem = f"user {owner} does not exist (install PostgreSQL first, or set owner)"
    if not problem and not mounted and place is not None and place["entries"]:
        problem = f"refusing to mount over {mount_point}: it is not empty (move the data first)"
    if problem:
        raise OperationError(problem)
    yield from _key_file_commands(fact, key_file)
    yield from _format_commands(fact, mapping, key_file)
    if not fact["device_mapper"]:
        yield StringCommand("modprobe dm_mod")
    quoted = shlex.quote(fact["device"])
    if fact["open"]:
        host.noop(f"{mapper} is open")
    else:
        yield StringCommand(
            f"cryptsetup open --type luks2 --key-file {shlex.quote(key_file)} {quoted}"
            f" {shlex.quote(mapping)}"
        )
    if fact["filesystem"]:
        host.noop(f"{mapper} holds {fact['filesystem']}")
    else:
        # an opened volume of ours that already holds a filesystem is never re-made
        yield StringCommand(
            f"blkid -p {mapper} >/dev/null 2>&1 || mkfs.ext4 -q -L {shlex.quote(mapping)} {mapper}"
        )
    uuid = fact["signatures"].get("UUID", "")
    boot = []
    if not uuid or fact["crypttab"] != crypttab_line(mapping, uuid, key_file):
        line = crypttab_line(mapping, "$(blkid -p -s UUID -o value " + quoted + ")", key_file)
        boot.append(_replace_line("/etc/crypttab", 1, mapping, f'"{line}"'))
    if fact["fstab"] != fstab_line(mapping, mount_point):
        line = shlex.quote(fstab_line(mapping, mount_point))
        boot.append(_replace_line("/etc/fstab", 2, mount_point, line))
    if boot:
        # systemd generates units from both files: let it see the new entries
        yield from [*boot, StringCommand("systemctl daemon-reload 2>/dev/null || true")]
    if mounted:
        host.noop(f"{mount_point} is mounted from {mapper}")
    else:
        yield StringCommand(
            f"mkdir -p {shlex.quote(mount_point)} && mount {shlex.quote(mount_point)}"
        )
    if not mounted or place is None or (place["owner"], place["mode"]) != (owner, mode.lstrip("0")):
        target = shlex.quote(mount_point)
        yield StringCommand(f"chown {shlex.quote(owner)}: {target} && chmod {mode} {target}")
