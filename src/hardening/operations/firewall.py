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
from pyinfra.operations import files

from hardening.facts.nftables import NftablesRuleset
from hardening.nft import default_deny
from hardening.operations._render import render, sha1

ROLLBACK_UNIT = "hardening-nft-rollback"
ROLLBACK_RULESET = "/etc/nftables.rollback.conf"


def render_ruleset(ports: set[tuple[int, str]]) -> str:
    """The nftables configuration for a set of ``(port, proto)`` pairs."""
    return render("nftables.conf.j2", ports=sorted(ports))


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
):
    """
    Load a default-deny nftables ruleset that opens only ``ports``, safely.

    + ports: ``(port, proto)`` pairs to accept from the network (SSH must be among them)
    + ssh_port: the port the control node uses; checked through the new rules
    + rollback_seconds: when the previous ruleset comes back unless SSH was confirmed
    + path: the ruleset file that ``nftables.service`` loads at boot

    **Example:**

    .. code:: python

        firewall.ruleset(
            name="Default-deny firewall",
            ports={(22, "tcp"), (443, "tcp")},
        )
    """
    if (ssh_port, "tcp") not in ports:
        raise OperationError(
            f"the firewall policy does not allow SSH ({ssh_port}/tcp): refusing to lock the "
            "operator out; add it to firewall_allowed_ports or fix ssh_port"
        )
    content = render_ruleset(ports)
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
