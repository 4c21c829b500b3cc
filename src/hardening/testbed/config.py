"""Where the testbed keeps its cache and its state, and how it names things.

Cache (survives reboots, safe to share between runs; ``HARDENING_CACHE`` overrides the base):

    ~/.cache/hardening/testbed/
        id_ed25519, id_ed25519.pub       control-node SSH key baked into the images
        images/bookworm-<profile>-<key>.tar.zst  (.tar.gz without zstd)
        layers/bookworm-<profile>-<key>/ unpacked image, the read-only overlayfs lower layer
        .lock                            serialises builds between processes

State of the running bed (``HARDENING_TESTBED_STATE`` overrides; default ``/run/hardening-testbed``,
so a reboot, which also ends every host, forgets it):

    state.json        everything `up` started, written before starting it
    inventory.json    hosts, addresses, groups and SSH settings (see `inventory.py`)
    known_hosts       the SSH host keys generated for each host
    hosts/<name>/     per-host upper/work dirs (or unpacked root), boot script, console log

Next to it, ``/run/hardening-testbed.lock`` serialises `up` and `down` of that bed.

``HARDENING_TESTBED_PREFIX`` (default ``hbtb``) prefixes network namespaces, veths, the cgroup
and the firewall table; ``HARDENING_TESTBED_NET_OFFSET`` (default 0) shifts the host subnets
(host N uses 10.77.(offset+N).0/24). Two beds with different prefixes, offsets and state dirs
can run side by side.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import TestbedError

DEFAULT_PREFIX = "hbtb"
DEFAULT_STATE_DIR = Path("/run/hardening-testbed")
NET_PREFIX = "10.77"
# Interface names are at most 15 characters: prefix + index (up to 3 digits) + "h"/"c".
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,9}$")


@dataclass(frozen=True)
class BedConfig:
    """Locations and naming of one testbed."""

    cache_dir: Path
    state_dir: Path = DEFAULT_STATE_DIR
    prefix: str = DEFAULT_PREFIX
    net_offset: int = 0
    boot_timeout: float = 180.0

    def __post_init__(self) -> None:
        if not _PREFIX_RE.match(self.prefix):
            raise TestbedError(
                f"invalid testbed prefix {self.prefix!r}: use 1-10 lowercase letters/digits, "
                "starting with a letter"
            )
        if not 0 <= self.net_offset <= 250:
            raise TestbedError(f"invalid subnet offset {self.net_offset}: use 0..250")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BedConfig:
        """Build the configuration from ``HARDENING_*`` environment variables and defaults."""
        env = os.environ if env is None else env
        base = Path(env.get("HARDENING_CACHE") or Path.home() / ".cache" / "hardening")
        offset = env.get("HARDENING_TESTBED_NET_OFFSET", "0")
        if not offset.isdigit():
            raise TestbedError(f"HARDENING_TESTBED_NET_OFFSET must be a number, not {offset!r}")
        return cls(
            cache_dir=base / "testbed",
            state_dir=Path(env.get("HARDENING_TESTBED_STATE") or DEFAULT_STATE_DIR),
            prefix=env.get("HARDENING_TESTBED_PREFIX") or DEFAULT_PREFIX,
            net_offset=int(offset),
        )

    # -- cache -------------------------------------------------------------------------------
    @property
    def ssh_key(self) -> Path:
        """Private key of the control node (public part: same name + ``.pub``)."""
        return self.cache_dir / "id_ed25519"

    @property
    def images_dir(self) -> Path:
        return self.cache_dir / "images"

    @property
    def layers_dir(self) -> Path:
        return self.cache_dir / "layers"

    @property
    def cache_lock(self) -> Path:
        return self.cache_dir / ".lock"

    # -- state -------------------------------------------------------------------------------
    @property
    def state_lock(self) -> Path:
        """Serialises `up`/`down` of this bed (beside the state dir, which `down` removes)."""
        return self.state_dir.with_name(self.state_dir.name + ".lock")

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def inventory_file(self) -> Path:
        return self.state_dir / "inventory.json"

    @property
    def known_hosts_file(self) -> Path:
        return self.state_dir / "known_hosts"

    def host_dir(self, name: str) -> Path:
        """Per-host working directory (upper/work dirs, boot script, console log)."""
        return self.state_dir / "hosts" / name
