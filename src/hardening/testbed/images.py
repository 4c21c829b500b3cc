"""Cached root filesystems of the test hosts (profiles ``base`` and ``services``).

Each profile is built once into a tarball under the cache and unpacked once into a layer
directory next to it (the read-only lower layer of the hosts' overlayfs). Both are keyed by a
hash of everything that goes into them (recipe version, package lists, drop-ins, the machine's
apt sources, the control node's SSH key), so changing any of it builds a new image. Builds go to
temporary names and are renamed into place, so an interrupted build never leaves a half image.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import mirror
from .config import BedConfig
from .errors import TestbedError
from .procs import file_lock, log, run

# Bump when the build steps below change in a way the key does not capture.
RECIPE_VERSION = 2

BASE_INCLUDE = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "iproute2",
    "procps",
    "sudo",
    "ca-certificates",
)

SERVICES_PACKAGES = (
    "postgresql",
    "postgresql-contrib",
    "redis-server",
    "nginx",
    "pgbouncer",
    "pgbackrest",
    "nftables",
    "prometheus-node-exporter",
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-postgres-exporter",
    "prometheus-redis-exporter",
    "haproxy",
    "libnginx-mod-http-modsecurity",
    "modsecurity-crs",
    "lynis",
    "unattended-upgrades",
    "rsyslog",
    "logrotate",
    "cron",
    "curl",
    "less",
)

# Units that wait for hardware, consoles or a network manager that a container does not have.
MASKED_UNITS = (
    "getty@.service",
    "serial-getty@.service",
    "console-getty.service",
    "container-getty@.service",
    "systemd-networkd-wait-online.service",
    "systemd-udevd.service",
    "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket",
    "systemd-udev-trigger.service",
    "systemd-udev-settle.service",
)

# Drop-ins for services whose sandboxing fails in this container (and only those).
SERVICES_DROPINS = {
    # Debian's unit sets PrivateUsers=true; systemd fails to set up that user namespace in
    # these hosts and redis exits with status 217/USER (verified; the drop-in fixes it).
    "etc/systemd/system/redis-server.service.d/container.conf": "[Service]\nPrivateUsers=false\n",
    # Same for prometheus (status 217/USER, "Failed to set up user namespacing").
    "etc/systemd/system/prometheus.service.d/container.conf": "[Service]\nPrivateUsers=false\n",
    # Debian ships DATA_SOURCE_NAME='' and the exporter exits at once ("malformed dsn"); point
    # it at the local socket like a first-time operator would, so hosts boot without a failed
    # unit. The monitoring deploy configures it properly.
    "etc/default/prometheus-postgres-exporter": (
        "DATA_SOURCE_NAME='host=/run/postgresql dbname=postgres sslmode=disable'\nARGS=\"\"\n"
    ),
}

POLICY_RC_D = "usr/sbin/policy-rc.d"
CHROOT_ENV = (
    "env",
    "-i",
    "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "LANG=C.UTF-8",
    "DEBIAN_FRONTEND=noninteractive",
)
HOSTS_TEMPLATE = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
RESOLV_CONF = "# hardening testbed: no DNS server; names come from /etc/hosts\n"


@dataclass(frozen=True)
class Profile:
    """What goes into an image on top of its parent."""

    name: str
    parent: str | None = None
    packages: tuple[str, ...] = ()
    dropins: dict[str, str] = field(default_factory=dict)


PROFILES = {
    "base": Profile("base"),
    "services": Profile("services", "base", SERVICES_PACKAGES, SERVICES_DROPINS),
}


@dataclass(frozen=True)
class BuildInputs:
    """Machine-dependent inputs of every image, read once per run."""

    mirror: str
    sources_list: str
    apt_conf: str
    ssh_pubkey: str

    @classmethod
    def read(cls, config: BedConfig) -> BuildInputs:
        sources = mirror.machine_sources()
        uri = mirror.find_mirror(sources)
        return cls(
            mirror=uri,
            sources_list=mirror.host_sources_list(sources, uri),
            apt_conf=mirror.apt_overrides(),
            ssh_pubkey=ensure_ssh_key(config),
        )


@dataclass(frozen=True)
class Image:
    """A built (or to-be-built) image of one profile."""

    profile: Profile
    key: str
    tarball: Path
    layer: Path


def ensure_ssh_key(config: BedConfig) -> str:
    """Generate the control node's ed25519 key once (private key 0600); return the public key."""
    key = config.ssh_key
    pub = key.with_name(key.name + ".pub")
    if not (key.exists() and pub.exists()):
        with file_lock(config.cache_lock, "testbed: waiting for another process using the cache"):
            if not (key.exists() and pub.exists()):
                _generate_key(key, pub)
    os.chmod(key, 0o600)
    return pub.read_text().strip()


def _generate_key(key: Path, pub: Path) -> None:
    """ssh-keygen to a temporary name, private key 0600, then both renamed into place."""
    tmp = key.with_name(f".{key.name}.tmp{os.getpid()}")
    tmp_pub = tmp.with_name(tmp.name + ".pub")
    for path in (tmp, tmp_pub):
        path.unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hardening-testbed", "-f", tmp])
    os.chmod(tmp, 0o600)
    os.replace(tmp_pub, pub)
    os.replace(tmp, key)


def image_key(profile: Profile, inputs: BuildInputs) -> str:
    """Cache key of a profile: changes whenever anything that goes into the image changes."""
    parent_key = image_key(PROFILES[profile.parent], inputs) if profile.parent else None
    recipe = {
        "recipe": RECIPE_VERSION,
        "suite": mirror.SUITE,
        "parent": parent_key,
        "include": BASE_INCLUDE if profile.parent is None else (),
        "masked": MASKED_UNITS if profile.parent is None else (),
        "packages": sorted(profile.packages),
        "dropins": profile.dropins,
        "inputs": [inputs.mirror, inputs.sources_list, inputs.apt_conf, inputs.ssh_pubkey],
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def image_for(config: BedConfig, profile_name: str, inputs: BuildInputs) -> Image:
    """Where the image of ``profile_name`` is (or will be) cached."""
    try:
        profile = PROFILES[profile_name]
    except KeyError:
        raise TestbedError(
            f"unknown profile {profile_name!r}: use one of {', '.join(PROFILES)}"
        ) from None
    key = image_key(profile, inputs)
    stem = f"{mirror.SUITE}-{profile.name}-{key}"
    candidates = [config.images_dir / f"{stem}{suffix}" for suffix in COMPRESSORS]
    existing = [path for path in candidates if path.is_file()]
    tarball = existing[0] if existing else config.images_dir / f"{stem}{_preferred_suffix()}"
    return Image(profile, key, tarball, config.layers_dir / stem)


@contextmanager
def cache_lock(config: BedConfig) -> Iterator[None]:
    """Serialise builds/unpacks between processes; clears leftovers of interrupted builds."""
    config.images_dir.mkdir(parents=True, exist_ok=True)
    config.layers_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(config.cache_lock, "testbed: waiting for another process using the cache"):
        for leftover in [*config.images_dir.glob(".tmp-*"), *config.layers_dir.glob(".tmp-*")]:
            _remove(leftover)
        yield


def ensure_layer(config: BedConfig, profile_name: str, inputs: BuildInputs | None = None) -> Image:
    """Return the image of a profile with its unpacked layer, building/unpacking as needed."""
    inputs = inputs or BuildInputs.read(config)
    with cache_lock(config):
        return _ensure_layer(config, image_for(config, profile_name, inputs), inputs)


def _ensure_layer(config: BedConfig, image: Image, inputs: BuildInputs) -> Image:
    if image.layer.is_dir():  # renamed into place only after its tarball was written
        if not image.tarball.is_file():
            _pack(config, image.layer, image.tarball)  # the tarball was deleted: re-create it
        return image
    if image.tarball.is_file():
        started = time.monotonic()
        tmp = _tmp_dir(config.layers_dir, image.layer.name)
        rootfs = tmp / "rootfs"
        rootfs.mkdir()
        unpack(image.tarball, rootfs)
        os.rename(rootfs, image.layer)
        _remove(tmp)
        log(f"testbed: unpacked {image.profile.name} image in {time.monotonic() - started:.1f} s")
        return image
    _build(config, image, inputs)
    return image


_TAR_FLAGS = ("--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls")
# tarball suffix -> (compress program, decompress program); zstd is much faster, gzip is
# everywhere.
COMPRESSORS = {".tar.zst": ("zstd -T0", "zstd"), ".tar.gz": ("gzip", "gzip")}


def _preferred_suffix() -> str:
    return ".tar.zst" if shutil.which("zstd") else ".tar.gz"


def _program(tarball: Path, index: int) -> str:
    suffix = "".join(tarball.suffixes[-2:])
    return COMPRESSORS[suffix][index]


def unpack(tarball: Path, destination: Path) -> None:
    """Unpack an image tarball into an existing directory, keeping owners and xattrs."""
    run(["tar", *_TAR_FLAGS, "-I", _program(tarball, 1), "-C", destination, "-xpf", tarball])


def _pack(config: BedConfig, rootfs: Path, tarball: Path) -> None:
    """Write the tarball of a root filesystem (to a temporary name, then renamed)."""
    tmp = config.images_dir / f".tmp-{tarball.name}"
    run(["tar", *_TAR_FLAGS, "-I", _program(tarball, 0), "-C", rootfs, "-cf", tmp, "."])
    os.replace(tmp, tarball)


def _tmp_dir(parent: Path, name: str) -> Path:
    path = parent / f".tmp-{name}-{os.getpid()}"
    _remove(path)
    path.mkdir(parents=True)
    return path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _build(config: BedConfig, image: Image, inputs: BuildInputs) -> None:
    """Build an image into a temporary directory, then tar it and move both into place."""
    started = time.monotonic()
    log(f"testbed: building the {image.profile.name} image (once; cached in {config.cache_dir})")
    tmp = _tmp_dir(config.layers_dir, image.layer.name)
    rootfs = tmp / "rootfs"
    try:
        if image.profile.parent is None:
            _debootstrap(rootfs, inputs)
        else:
            parent = _ensure_layer(config, image_for(config, image.profile.parent, inputs), inputs)
            run(["cp", "-a", "--reflink=auto", parent.layer, rootfs])
            _install_packages(rootfs, image.profile.packages)
        for relpath, content in image.profile.dropins.items():
            _write(rootfs / relpath, content)
        _finish(rootfs)
        _pack(config, rootfs, image.tarball)
        os.rename(rootfs, image.layer)
    finally:
        _remove(tmp)
    size = image.tarball.stat().st_size / 2**20
    log(
        f"testbed: {image.profile.name} image built in {time.monotonic() - started:.1f} s "
        f"({image.tarball.name}, {size:.0f} MiB)"
    )


def _in_private_namespaces(script: str, *args: str | os.PathLike[str]) -> None:
    """Run a bash script in new mount and PID namespaces: its mounts and any daemon it starts
    by mistake disappear with it, even if the build is interrupted."""
    run(
        [
            "unshare",
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            "bash",
            "-euc",
            script,
            "build",
            *args,
        ],
        timeout=1800,
    )


def _debootstrap(rootfs: Path, inputs: BuildInputs) -> None:
    if not shutil.which("debootstrap"):
        raise TestbedError(
            "debootstrap is not installed: run `apt-get install debootstrap` "
            "(needed once to build the testbed image)"
        )
    _in_private_namespaces(
        'debootstrap --variant=minbase --include="$1" bookworm "$2" "$3"',
        ",".join(BASE_INCLUDE),
        rootfs,
        inputs.mirror,
    )
    chroot = ("chroot", rootfs, *CHROOT_ENV)
    run([*chroot, "systemctl", "enable", "ssh.service"])
    run([*chroot, "systemctl", "mask", *MASKED_UNITS])
    run([*chroot, "usermod", "-p", "*", "root"])  # no root password; key login only
    ssh_dir = rootfs / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    _write(ssh_dir / "authorized_keys", inputs.ssh_pubkey + "\n", mode=0o600)
    for host_key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        host_key.unlink()  # every host gets its own keys at `up`
    _write(rootfs / "etc/apt/sources.list", inputs.sources_list)
    if inputs.apt_conf:
        _write(rootfs / "etc/apt/apt.conf.d/99hardening-testbed", inputs.apt_conf)


def _install_packages(rootfs: Path, packages: tuple[str, ...]) -> None:
    """``apt-get install`` in a chroot, with services kept from starting by policy-rc.d.

    Without recommends: they add an MTA and hardware daemons (smartmontools, nvme-cli,
    openipmi) that fail in a container; the listed packages are installed as Debian ships
    them, in their default configuration.
    """
    policy = rootfs / POLICY_RC_D
    _write(policy, "#!/bin/sh\n# hardening testbed build: start no services\nexit 101\n", 0o755)
    for name in ("resolv.conf", "hosts"):  # the chroot resolves the mirror like this machine
        shutil.copyfile(Path("/etc") / name, rootfs / "etc" / name)
    try:
        _in_private_namespaces(
            """
            root=$1; shift
            mount -t proc proc "$root/proc"
            mount --rbind /dev "$root/dev"
            in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
                LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
            in_root apt-get update -q
            in_root apt-get install -y -q --no-install-recommends \
                -o Dpkg::Options::=--force-confold "$@"
            in_root apt-get clean
            """,
            rootfs,
            *packages,
        )
    finally:
        policy.unlink(missing_ok=True)


def _finish(rootfs: Path) -> None:
    """Common last step: neutral name service files, no leftovers of the build."""
    _write(rootfs / "etc/hosts", HOSTS_TEMPLATE)
    (rootfs / "etc/resolv.conf").unlink(missing_ok=True)
    _write(rootfs / "etc/resolv.conf", RESOLV_CONF)
    for deb in (rootfs / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    if (rootfs / POLICY_RC_D).exists():
        raise TestbedError(f"build left {POLICY_RC_D} behind; this is a bug in hardening.testbed")


def _write(path: Path, content: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    os.chmod(path, mode)


def build(
    config: BedConfig | None = None,
    profiles: tuple[str, ...] = tuple(PROFILES),
    force: bool = False,
) -> list[Image]:
    """Build (or, with ``force``, rebuild) the images of ``profiles``; return them."""
    config = config or BedConfig.from_env()
    inputs = BuildInputs.read(config)
    images = []
    with cache_lock(config):
        for name in profiles:
            image = image_for(config, name, inputs)
            if force:
                _remove(image.tarball)
                _remove(image.layer)
            images.append(_ensure_layer(config, image, inputs))
    return images
