"""The state file of a bed: what `up` started, recorded before it is started.

`down` reads only this file to find what to tear down, so it works after a crash, from another
process, and when `up` stopped half-way.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .addressing import HostSpec
from .errors import TestbedError
from .inventory import write_json
from .procs import ProcRef

STATE_VERSION = 1
_PROC_FIELDS = ("boot", "init", "forward")


@dataclass
class HostState:
    """One host: its plan, its directories and cgroups, and the processes started for it.

    ``boot`` is the ``unshare`` process (parent of the host's PID namespace), ``init`` its child,
    the host's systemd (PID 1 inside), ``forward`` the socat forwarding apt traffic to the
    mirror. All mounts of a host live in its private mount namespace and vanish with it.
    """

    spec: HostSpec
    dir: str
    root: str
    cgroup: str
    forward_cgroup: str
    boot: ProcRef | None = None
    init: ProcRef | None = None
    forward: ProcRef | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def procs(self) -> list[ProcRef]:
        """Recorded processes, in the order to kill them."""
        return [p for p in (self.init, self.boot, self.forward) if p is not None]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "spec": asdict(self.spec),
            "dir": self.dir,
            "root": self.root,
            "cgroup": self.cgroup,
            "forward_cgroup": self.forward_cgroup,
        }
        for name in _PROC_FIELDS:
            ref = getattr(self, name)
            data[name] = ref.to_json() if ref else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HostState:
        spec = dict(data["spec"])
        spec["groups"] = tuple(spec["groups"])
        procs = {name: ProcRef.from_json(data.get(name)) for name in _PROC_FIELDS}
        return cls(
            spec=HostSpec(**spec),
            dir=data["dir"],
            root=data["root"],
            cgroup=data["cgroup"],
            forward_cgroup=data["forward_cgroup"],
            **procs,
        )


@dataclass
class BedState:
    """A whole bed."""

    profile: str
    layer: str
    tarball: str
    overlay: bool
    cgroup_root: str
    firewall_table: str
    mirror_host: str
    hosts: list[HostState] = field(default_factory=list)
    version: int = STATE_VERSION

    def host(self, name: str) -> HostState:
        for host in self.hosts:
            if host.name == name:
                return host
        names = ", ".join(h.name for h in self.hosts)
        raise TestbedError(f"no host {name!r} in the testbed (hosts: {names})")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["hosts"] = [h.to_json() for h in self.hosts]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BedState:
        if data.get("version") != STATE_VERSION:
            raise TestbedError(
                f"testbed state has version {data.get('version')}, expected {STATE_VERSION}: "
                "tear that bed down with the version of hardening that started it"
            )
        hosts = [HostState.from_json(h) for h in data["hosts"]]
        return cls(**{**data, "hosts": hosts})


class StateStore:
    """Atomic, thread-safe reads and writes of the state file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def load(self) -> BedState | None:
        """The recorded bed, or None if there is none."""
        try:
            return BedState.from_json(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise TestbedError(
                f"testbed state file {self.path} is unreadable ({exc}): "
                "check what runs, then remove it"
            ) from exc

    def save(self, state: BedState) -> None:
        with self._lock:
            write_json(self.path, state.to_json())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
