"""Bringing a bed up, tearing it down, and looking at it."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from . import cgroups, images, mirror, network, preflight
from .addressing import HostSpec, etc_hosts, plan_hosts
from .bootscript import BootPlan, render
from .cgroups import CgroupLayout
from .config import BedConfig
from .errors import TestbedError
from .inventory import inventory_document, write_json
from .procs import ProcRef, file_lock, log, run, spawn
from .services import stop_services
from .state import BedState, HostState, StateStore

Command = str | Sequence[str]


def _config(config: BedConfig | None) -> BedConfig:
    return config or BedConfig.from_env()


# -- SSH -----------------------------------------------------------------------------------------


def ssh_argv(
    config: BedConfig,
    address: str,
    command: Command | None = None,
    *,
    tty: bool = False,
    connect_timeout: int = 5,
) -> list[str]:
    """``ssh`` command line for ``root@address`` with the bed's key and known_hosts file.

    ``command`` is a shell command line (str) or an argument vector (quoted for the remote
    shell); None opens a login shell.
    """
    argv = [
        "ssh",
        "-F", "/dev/null",
        "-i", str(config.ssh_key),
        "-o", "IdentitiesOnly=yes",
        "-o", "BatchMode=yes",
        "-o", f"UserKnownHostsFile={config.known_hosts_file}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"ConnectTimeout={connect_timeout}",
        "-o", "LogLevel=ERROR",
        "-t" if tty else "-T",
        f"root@{address}",
    ]  # fmt: skip
    if command is not None:
        argv += ["--", command if isinstance(command, str) else shlex.join(command)]
    return argv


def _ssh(
    config: BedConfig, address: str, command: Command, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run a command on a host; a timeout gives returncode 255 like a failed connection."""
    argv = ssh_argv(config, address, command, connect_timeout=max(1, min(5, int(timeout))))
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 255, "", f"timed out after {timeout:.0f} s")


def _port_open(address: str, port: int = 22) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def _systemd_state(config: BedConfig, address: str, timeout: float) -> tuple[str, list[str]]:
    """(``systemctl is-system-running`` output, failed units); ("", []) if unreachable."""
    proc = _ssh(
        config,
        address,
        "systemctl is-system-running; "
        "systemctl list-units --failed --plain --no-legend --no-pager | cut -d' ' -f1",
        timeout,
    )
    if proc.returncode == 255 or not proc.stdout.strip():
        return "", []
    state, *failed = proc.stdout.split()
    return state, failed


# -- the bed as seen from outside ----------------------------------------------------------------


@dataclass(frozen=True)
class HostStatus:
    """What `status` reports about one host."""

    name: str
    address: str
    netns: str
    pid: int | None
    pid_alive: bool
    ssh_reachable: bool
    systemd_state: str
    failed_units: tuple[str, ...]


class Bed:
    """A running bed: its hosts, inventory and SSH helpers (returned by `up` and `current`)."""

    def __init__(self, config: BedConfig, state: BedState) -> None:
        self.config = config
        self.state = state

    @classmethod
    def current(cls, config: BedConfig | None = None) -> Bed | None:
        """The bed recorded in the state dir if all its hosts run, else None."""
        config = _config(config)
        state = StateStore(config.state_file).load()
        if state is None or not state.hosts:
            return None
        if not all(h.init and h.init.alive() for h in state.hosts):
            return None
        return cls(config, state)

    @property
    def hosts(self) -> list[HostSpec]:
        """The hosts (name, address, gateway, netns, veth, groups)."""
        return [h.spec for h in self.state.hosts]

    @property
    def inventory_path(self) -> Path:
        return self.config.inventory_file

    def host(self, host: str | HostSpec) -> HostSpec:
        """A host by name (or the spec itself)."""
        return host if isinstance(host, HostSpec) else self.state.host(host).spec

    def ssh(
        self, host: str | HostSpec, command: Command, *, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` as root on ``host`` over SSH; output captured as text, not checked."""
        return _ssh(self.config, self.host(host).address, command, timeout)

    def run(self, host: str | HostSpec, command: Command, *, timeout: float = 120.0) -> str:
        """Run ``command`` on ``host``; its stdout, or `TestbedError` if it fails."""
        proc = self.ssh(host, command, timeout=timeout)
        if proc.returncode != 0:
            detail = (proc.stderr.strip() or proc.stdout.strip())[-500:]
            name = self.host(host).name
            raise TestbedError(f"{name}: `{command}` exited {proc.returncode}: {detail}")
        return proc.stdout

    def status(self) -> list[HostStatus]:
        return status(self.config)

    def down(self) -> None:
        down(self.config)


def status(config: BedConfig | None = None) -> list[HostStatus]:
    """Per host: name, address, netns, systemd's PID and whether it runs, SSH, systemd state."""
    config = _config(config)
    state = StateStore(config.state_file).load()
    if state is None:
        return []

    def one(host: HostState) -> HostStatus:
        alive = bool(host.init and host.init.alive())
        systemd, failed = _systemd_state(config, host.spec.address, 10) if alive else ("", [])
        return HostStatus(
            name=host.name,
            address=host.spec.address,
            netns=host.spec.netns,
            pid=host.init.pid if host.init else None,
            pid_alive=alive,
            ssh_reachable=bool(systemd),
            systemd_state=systemd or "unknown",
            failed_units=tuple(failed),
        )

    with ThreadPoolExecutor(max_workers=len(state.hosts) or 1) as pool:
        return list(pool.map(one, state.hosts))


# -- up ------------------------------------------------------------------------------------------


def up(
    count: int = 1,
    profile: str = "services",
    config: BedConfig | None = None,
    *,
    timeout: float | None = None,
) -> Bed:
    """Boot ``count`` hosts of ``profile`` in parallel and wait until they are ready.

    Builds the image first if it is not cached. Refuses if a bed is already up. On any failure
    (or Ctrl-C) tears down whatever it started and re-raises.
    """
    config = _config(config)
    layout = preflight.check_host()
    specs = plan_hosts(count, config.prefix, config.net_offset)
    with _bed_lock(config):
        return _up(config, specs, profile, layout, timeout)


def _bed_lock(config: BedConfig) -> AbstractContextManager[None]:
    return file_lock(config.state_lock, "testbed: waiting for another `up`/`down` of this bed")


def _up(
    config: BedConfig,
    specs: list[HostSpec],
    profile: str,
    layout: CgroupLayout,
    timeout: float | None,
) -> Bed:
    started = time.monotonic()
    store = StateStore(config.state_file)
    _refuse_if_up(config, store)
    inputs = images.BuildInputs.read(config)
    image = images.ensure_layer(config, profile, inputs)
    state = _plan(config, specs, profile, image, layout, inputs.mirror)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    store.save(state)  # before anything exists: `down` can always find everything
    try:
        network.install_firewall(state.firewall_table, config.prefix)
        _Starter(config, store, state, layout, inputs.mirror, timeout).start_all()
        write_json(
            config.inventory_file,
            inventory_document(specs, config.ssh_key, config.known_hosts_file, profile),
        )
    except BaseException as exc:
        why = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        log(f"testbed: up {why}; tearing down what was started")
        try:
            _teardown(config)
        except TestbedError as cleanup_error:
            log(f"testbed: {cleanup_error}")
        raise
    log(
        f"testbed: {len(specs)} host(s) up in {time.monotonic() - started:.1f} s; "
        f"inventory: {config.inventory_file}"
    )
    return Bed(config, state)


def _refuse_if_up(config: BedConfig, store: StateStore) -> None:
    state = store.load()
    if state is None:
        return
    if _anything_left(state):
        names = ", ".join(h.name for h in state.hosts)
        raise TestbedError(
            f"a testbed is already up ({names}; state in {config.state_dir}): "
            "run `hardening testbed down` first"
        )
    log("testbed: clearing the record of a bed that no longer runs")
    _teardown(config)


def _anything_left(state: BedState) -> bool:
    for host in state.hosts:
        if any(p.alive() for p in host.procs()):
            return True
        if network.netns_exists(host.spec.netns) or network.link_exists(host.spec.veth):
            return True
        if cgroups.members(Path(host.cgroup)) or cgroups.members(Path(host.forward_cgroup)):
            return True
    return False


def _plan(
    config: BedConfig,
    specs: list[HostSpec],
    profile: str,
    image: images.Image,
    layout: CgroupLayout,
    mirror_uri: str,
) -> BedState:
    cgroup_root = layout.mount / f"{config.prefix}-testbed"
    hosts = []
    for spec in specs:
        host_dir = config.host_dir(spec.name)
        hosts.append(
            HostState(
                spec=spec,
                dir=str(host_dir),
                root=str(host_dir / "root"),
                cgroup=str(cgroup_root / f"host-{spec.name}"),
                forward_cgroup=str(cgroup_root / f"forward-{spec.name}"),
            )
        )
    return BedState(
        profile=profile,
        layer=str(image.layer),
        tarball=str(image.tarball),
        overlay=_overlay_works(config, image.layer),
        cgroup_root=str(cgroup_root),
        firewall_table=f"{config.prefix}_testbed",
        mirror_host=mirror.mirror_endpoint(mirror_uri)[0],
        hosts=hosts,
    )


def _overlay_works(config: BedConfig, lower: Path) -> bool:
    """Whether overlayfs with ``lower`` and an upper dir in the state dir mounts here."""
    probe = config.state_dir / ".overlay-probe"
    shutil.rmtree(probe, ignore_errors=True)
    for sub in ("upper", "work", "mnt"):
        (probe / sub).mkdir(parents=True)
    options = f"lowerdir={lower},upperdir={probe / 'upper'},workdir={probe / 'work'}"
    try:
        # In a private mount namespace: the probe mount disappears with the command.
        mount = ["unshare", "--mount", "mount", "-t", "overlay", "overlay", "-o", options]
        return run([*mount, probe / "mnt"], check=False).returncode == 0
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def _spawn_in_cgroup(argv: list[str], cgroup: Path, log_path: Path) -> ProcRef:
    """Start a process in a new session inside ``cgroup`` (it joins before exec)."""
    cgroup.mkdir(parents=True, exist_ok=True)
    join = 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"'
    return spawn(["sh", "-c", join, "sh", str(cgroup), *argv], log_path)


class _Starter:
    """Starts the hosts of a planned bed in parallel, recording each process as it starts."""

    def __init__(
        self,
        config: BedConfig,
        store: StateStore,
        state: BedState,
        layout: CgroupLayout,
        mirror_uri: str,
        timeout: float | None,
    ) -> None:
        self.config = config
        self.store = store
        self.state = state
        self.layout = layout
        self.mirror_host, self.mirror_port = mirror.mirror_endpoint(mirror_uri)
        self.timeout = timeout or config.boot_timeout
        self.cancel = threading.Event()
        self._known_hosts: dict[str, str] = {}
        self._lock = threading.Lock()

    def start_all(self) -> None:
        with ThreadPoolExecutor(max_workers=len(self.state.hosts)) as pool:
            futures = [pool.submit(self._start, host) for host in self.state.hosts]
            try:
                for future in as_completed(futures):
                    future.result()
            except BaseException:
                self.cancel.set()  # the other threads stop waiting; the pool then joins them
                raise

    def _save(self) -> None:
        self.store.save(self.state)

    def _start(self, host: HostState) -> None:
        started = time.monotonic()
        name = host.name
        log(f"{name}: booting")
        self._prepare_root(host)
        self._check_cancel(host)
        network.create_host_network(host.spec)
        host_dir = Path(host.dir)
        host.forward = _spawn_in_cgroup(
            [
                "socat",
                f"TCP-LISTEN:{self.mirror_port},bind={host.spec.gateway},fork,reuseaddr",
                f"TCP:{self.mirror_host}:{self.mirror_port}",
            ],
            Path(host.forward_cgroup),
            host_dir / "forward.log",
        )
        self._save()
        self._check_cancel(host)
        boot = ["ip", "netns", "exec", host.spec.netns, "bash", str(host_dir / "boot.sh")]
        host.boot = _spawn_in_cgroup(boot, Path(host.cgroup), host_dir / "console.log")
        self._save()
        host.init = self._wait_for_init(host)
        self._save()
        state, failed = self._wait_ready(host, started + self.timeout)
        detail = f" ({state}: failed units {', '.join(failed)})" if failed else ""
        log(f"{name}: ready in {time.monotonic() - started:.1f} s{detail}")

    def _prepare_root(self, host: HostState) -> None:
        """The host's writable layer (or unpacked root), its own files, and its boot script."""
        host_dir = Path(host.dir)
        shutil.rmtree(host_dir, ignore_errors=True)
        root = Path(host.root)
        root.mkdir(parents=True)
        if self.state.overlay:
            writable = host_dir / "upper"
            plan = BootPlan(
                host.name,
                root,
                self.layout.version,
                host_dir / "console.log",
                lower=Path(self.state.layer),
                upper=writable,
                work=host_dir / "work",
            )
            for path in (writable, host_dir / "work"):
                path.mkdir(mode=0o755)
        else:
            writable = root
            images.unpack(Path(self.state.tarball), root)
            plan = BootPlan(host.name, root, self.layout.version, host_dir / "console.log")
        etc = writable / "etc"
        (etc / "ssh").mkdir(parents=True, exist_ok=True)
        for path in (etc, etc / "ssh"):  # an upper dir's mode would replace the image's
            os.chmod(path, 0o755)
        (etc / "hostname").write_text(host.name + "\n")
        specs = [h.spec for h in self.state.hosts]
        (etc / "hosts").write_text(etc_hosts(host.spec, specs, self.mirror_host))
        (etc / "machine-id").write_text(uuid.uuid4().hex + "\n")
        run(["ssh-keygen", "-q", "-A", "-f", writable])
        self._add_known_host(host.spec.address, sorted((etc / "ssh").glob("ssh_host_*_key.pub")))
        (host_dir / "console.log").touch()
        (host_dir / "boot.sh").write_text(render(plan))

    def _add_known_host(self, address: str, public_keys: list[Path]) -> None:
        entries = []
        for pub in public_keys:
            key_type, key = pub.read_text().split()[:2]
            entries.append(f"{address} {key_type} {key}\n")
        with self._lock:
            self._known_hosts[address] = "".join(entries)
            tmp = self.config.known_hosts_file.with_suffix(".tmp")
            tmp.write_text("".join(self._known_hosts[a] for a in sorted(self._known_hosts)))
            os.replace(tmp, self.config.known_hosts_file)

    def _wait_for_init(self, host: HostState) -> ProcRef:
        """The host's systemd: the child ``unshare --fork`` starts."""
        assert host.boot is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and host.boot.alive():
            children = host.boot.children()
            if children:
                return ProcRef.of(children[0])
            time.sleep(0.02)
        raise self._boot_failure(host, "did not start")

    def _wait_ready(self, host: HostState, deadline: float) -> tuple[str, list[str]]:
        """Poll until sshd answers and systemd is ``running`` or ``degraded``."""
        address = host.spec.address
        while True:
            self._check_cancel(host)
            if not (host.init and host.init.alive()):
                raise self._boot_failure(host, "stopped while booting")
            if time.monotonic() > deadline:
                raise self._boot_failure(host, f"not ready after {self.timeout:.0f} s")
            if _port_open(address):
                state, failed = _systemd_state(self.config, address, 10)
                if state in ("running", "degraded"):
                    return state, failed
            time.sleep(0.2)

    def _check_cancel(self, host: HostState) -> None:
        if self.cancel.is_set():
            raise TestbedError(f"{host.name}: start cancelled")

    def _boot_failure(self, host: HostState, what: str) -> TestbedError:
        console = Path(host.dir) / "console.log"
        try:
            lines = console.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        last = f"; last console line: {lines[-1][:200]}" if lines else ""
        return TestbedError(f"{host.name}: host {what} (console log: {console}){last}")


# -- down ----------------------------------------------------------------------------------------


def down(config: BedConfig | None = None) -> None:
    """Tear down the recorded bed: processes (by recorded PID and cgroup), veths, namespaces,
    firewall table, mounts, per-host directories, then the state. Safe to repeat and to call
    on a half-started bed; raises `TestbedError` naming anything it could not remove."""
    config = _config(config)
    if not config.state_file.exists():
        log("testbed: nothing to tear down")
        return
    preflight.check_privileges()
    with _bed_lock(config):
        _teardown(config)


def _teardown(config: BedConfig) -> None:
    store = StateStore(config.state_file)
    state = store.load()
    if state is None:
        log("testbed: nothing to tear down")
        return
    started = time.monotonic()
    stop_services(config)  # OpenBao / S3 of the demo, when it started them
    problems = _stop_processes(state)
    for host in state.hosts:
        problems += network.remove_host_network(host.spec)
    if not network.remove_firewall(state.firewall_table):
        problems.append(f"nftables table inet {state.firewall_table}")
    problems += _unmount_under(config.state_dir)
    for cgroup in [p for h in state.hosts for p in (h.cgroup, h.forward_cgroup)]:
        if not cgroups.remove_tree(Path(cgroup)):
            problems.append(f"cgroup {cgroup}")
    if not problems:
        cgroups.remove_tree(Path(state.cgroup_root))
        for host in state.hosts:
            shutil.rmtree(host.dir, ignore_errors=True)
            if Path(host.dir).exists():
                problems.append(f"directory {host.dir}")
    if problems:
        raise TestbedError(
            f"teardown incomplete, left: {'; '.join(problems)}: run `hardening testbed down` again"
        )
    for path in (config.inventory_file, config.known_hosts_file):
        path.unlink(missing_ok=True)
    store.remove()
    for directory in (config.state_dir / "hosts", config.state_dir):
        with contextlib.suppress(OSError):
            directory.rmdir()
    log(f"testbed: down in {time.monotonic() - started:.1f} s")


def _stop_processes(state: BedState) -> list[str]:
    """Kill each host's recorded processes, then anything still in its cgroups."""
    for host in state.hosts:
        for proc in host.procs():
            proc.kill(group=proc is not host.init)
    problems = []
    for host in state.hosts:
        for cgroup in (host.cgroup, host.forward_cgroup):
            if not cgroups.kill_all(Path(cgroup)):
                problems.append(f"processes in {cgroup}")
        problems += [f"process {p.pid}" for p in host.procs() if not p.wait_gone()]
    return problems


def _unmount_under(directory: Path) -> list[str]:
    """Unmount anything mounted below ``directory`` in this mount namespace (deepest first).

    Hosts mount only in their own namespaces, so normally there is nothing; this catches
    leftovers of an older or interrupted run.
    """
    prefix = str(directory.resolve()) + "/"
    targets = []
    for line in Path("/proc/mounts").read_text().splitlines():
        target = line.split()[1].encode().decode("unicode_escape")
        if target.startswith(prefix):
            targets.append(target)
    left = []
    for target in sorted(targets, key=len, reverse=True):
        unmounted = run(["umount", target], check=False).returncode == 0
        if not unmounted and run(["umount", "--lazy", target], check=False).returncode != 0:
            left.append(f"mount {target}")
    return left
