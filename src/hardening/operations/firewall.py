"""nftables firewall that cannot lock the operator out.

The new ruleset is validated with ``nft -c`` before anything changes, a rollback
to the previous ruleset is armed on the host as a systemd timer, the ruleset is
loaded atomically (one ``nft -f`` transaction), and the rollback is disarmed
only after a *fresh* TCP connection from the control node to the SSH port got
an SSH banner through the new rules. If that fails, the operation fails and
the host restores its previous ruleset by itself when the timer fires.
"""

from __future__ import annotations

import socket
from io import StringIO

from pyinfra import host
from pyinfra.api import FunctionCommand, OperationError, StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.facts.files import Sha1File
from pyinfra.facts.server import Sysctl
from pyinfra.operations import files

from hardening.facts.nftables import NftablesRuleset
from hardening.firewall_policy import split_families
from hardening.nft import DEFAULT_DROP_COMMENT, default_deny
from hardening.operations._render import render, sha1

ROLLBACK_UNIT = "hardening-nft-rollback"
ROLLBACK_RULESET = "/etc/nftables.rollback.conf"


def render_ruleset(
    ports: set[tuple[int, str]],
    restricted: dict[tuple[int, str], tuple[str, ...]] | None = None,
    limited: set[int] | None = None,
    rate: int = 0,
) -> str:
    """The nftables configuration: ``ports`` open to all, ``restricted`` to some sources.

    + ports: ``(port, proto)`` pairs accepted from everyone
    + restricted: ``(port, proto) -> addresses/networks`` accepted only from those
      (an empty tuple: from nobody)
    + limited: TCP ports whose new connections are rate-limited per source
    + rate: new connections per second and source before they are dropped (0: no limit)
    """
    rows = []
    for (port, proto), sources in sorted((restricted or {}).items()):
        v4, v6 = split_families(sources)
        if (port, proto) not in ports and (v4 or v6):
            rows.append((port, proto, v4, v6))
    return render(
        "nftables.conf.j2",
        ports=sorted(ports),
        restricted=rows,
        limited=sorted(limited or ()) if rate > 0 else [],
        rate=int(rate),
        drop_comment=DEFAULT_DROP_COMMENT,
    )


def confirm_ssh_reachable(address: str, port: int, timeout: float = 5.0) -> None:
    """Open a fresh TCP connection to SSH and read its banner, or raise ``OperationError``."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as connection:
            connection.settimeout(timeout)
            banner = connection.recv(64)
    except OSError as error:
        raise OperationError(
            f"new firewall rules cut SSH to {address}:{port} ({error}); the host restores "
            "its previous ruleset when the rollback timer fires"
        ) from None
    if not banner.startswith(b"SSH-"):
        raise OperationError(f"{address}:{port} answered, but not with an SSH banner")


def _has_hardening_table(ruleset: dict) -> bool:
    return any(
        table.get("family") == "inet" and table.get("name") == "hardening"
        for table in ruleset.get("tables", [])
    )


@operation()
def ruleset(
    ports: set[tuple[int, str]],
    ssh_port: int = 22,
    rollback_seconds: int = 60,
    path: str = "/etc/nftables.conf",
    restricted: dict[tuple[int, str], tuple[str, ...]] | None = None,
    limited: set[int] | None = None,
    rate: int = 0,
):
    """
    Load a default-deny nftables ruleset that opens only ``ports``, safely.

    + ports: ``(port, proto)`` pairs to accept from the network (SSH must be among them,
      or in ``restricted`` with at least one source, e.g. to isolate a host)
    + restricted: ``(port, proto) -> sources`` accepted only from those IP addresses/networks
    + limited: TCP ports (SSH, 80, 443) whose new connections are rate-limited per source
    + rate: new connections per second one source may open to ``limited`` ports (0: no limit)
    + ssh_port: the port the control node uses; checked through the new rules
    + rollback_seconds: when the previous ruleset comes back unless SSH was confirmed
    + path: the ruleset file that ``nftables.service`` loads at boot

    **Example:**

    .. code:: python

        firewall.ruleset(
            name="Default-deny firewall",
            ports={(22, "tcp"), (443, "tcp")},
            restricted={(9100, "tcp"): ("10.0.0.9",)},
            limited={22, 443},
            rate=25,
        )
    """
    if (ssh_port, "tcp") not in ports and not (restricted or {}).get((ssh_port, "tcp")):
        raise OperationError(
            f"the firewall policy does not allow SSH ({ssh_port}/tcp): refusing to lock the "
            "operator out; add it to firewall_allowed_ports or fix ssh_port"
        )
    content = render_ruleset(ports, restricted, limited, rate)
    live = host.get_fact(NftablesRuleset)
    if not live["available"]:
        raise OperationError("nft is not installed: install the nftables package first")
    current = host.get_fact(Sha1File, path=path) == sha1(content)
    if current and _has_hardening_table(live) and default_deny(live):
        host.noop(f"nftables ruleset in {path} is loaded and current")
        return

    staged = f"{path}.hardening-new"
    yield from files.put._inner(src=StringIO(content), dest=staged, mode="0600")
    yield StringCommand("nft", "-c", "-f", QuoteString(staged))
    yield StringCommand(
        "{ echo 'flush ruleset'; nft list ruleset; } >",
        QuoteString(ROLLBACK_RULESET),
        "&& chmod 600",
        QuoteString(ROLLBACK_RULESET),
        "&& if [ -f",
        QuoteString(path),
        "]; then cp -a",
        QuoteString(path),
        QuoteString(f"{path}.previous"),
        "; fi",
    )
    restore = (
        f"nft -f {ROLLBACK_RULESET}; "
        f"if [ -f {path}.previous ]; then cp -a {path}.previous {path}; fi"
    )
    yield StringCommand(
        f"systemctl stop {ROLLBACK_UNIT}.timer {ROLLBACK_UNIT}.service >/dev/null 2>&1;",
        f"systemctl reset-failed {ROLLBACK_UNIT}.timer {ROLLBACK_UNIT}.service >/dev/null 2>&1;",
        "systemd-run --quiet --unit",
        ROLLBACK_UNIT,
        f"--on-active={int(rollback_seconds)}",
        "/bin/sh -c",
        QuoteString(restore),
    )
    yield StringCommand(
        "nft -f", QuoteString(staged), "&& mv -f", QuoteString(staged), QuoteString(path)
    )
    address = host.data.get("ssh_hostname") or host.name
    if host.connector_cls.__name__ in ("SSHConnector",):
        yield FunctionCommand(confirm_ssh_reachable, (address, int(ssh_port)), {})
    yield StringCommand(f"systemctl stop {ROLLBACK_UNIT}.timer >/dev/null 2>&1 || true")
    yield StringCommand("systemctl enable --quiet nftables.service")


@operation()
def sysctls(values: dict[str, int | str], path: str = "/etc/sysctl.d/60-hardening.conf"):
    """
    Set kernel parameters now and at boot (one ``sysctl.d`` file), only those that differ.

    + values: sysctl name -> value
    + path: the ``/etc/sysctl.d`` file that keeps them across reboots

    **Example:**

    .. code:: python

        firewall.sysctls(
            name="SYN cookies",
            values={"net.ipv4.tcp_syncookies": 1},
            path="/etc/sysctl.d/60-hardening-ddos.conf",
        )
    """
    content = "".join(f"{key} = {value}\n" for key, value in sorted(values.items()))
    header = "# Managed by hardening; local changes are overwritten.\n"
    yield from files.put._inner(src=StringIO(header + content), dest=path, mode="0644")
    live = host.get_fact(Sysctl, keys=sorted(values))
    stale = [key for key, value in sorted(values.items()) if str(live.get(key)) != str(value)]
    if not stale:
        host.noop(f"{len(values)} sysctls already have their values")
        return
    yield StringCommand("sysctl -q", *[QuoteString(f"{key}={values[key]}") for key in stale])
