"""SSH server hardening: one sshd drop-in, validated with ``sshd -t`` before a reload.

The drop-in ``/etc/ssh/sshd_config.d/10-hardening.conf`` is read before the settings of
Debian's ``sshd_config`` (first value wins). A new version is staged, checked by
``sshd -t`` against a copy of the main configuration that includes the staged file
first, swapped in, and ``ssh.service`` is reloaded (the running connections survive).
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import OperationError, StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.facts.files import Sha1File
from pyinfra.operations import files

from hardening.facts.ssh import SshdState
from hardening.operations._render import render, sha1

DROP_IN = "/etc/ssh/sshd_config.d/10-hardening.conf"
MIN_MODULUS_BITS = 3071
WEAK_HOST_KEYS = ("dsa", "ecdsa")

#: Mozilla "modern" OpenSSH / ssh-audit guidance for OpenSSH 9.x (Debian 12); without
#: sntrup761x25519, which Debian's ssh-audit 2.5 flags as experimental.
KEX = (
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group-exchange-sha256",
)
CIPHERS = (
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)
MACS = (
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "umac-128-etm@openssh.com",
)
HOST_KEY_ALGORITHMS = (
    "ssh-ed25519",
    "ssh-ed25519-cert-v01@openssh.com",
    "sk-ssh-ed25519@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "rsa-sha2-512",
    "rsa-sha2-512-cert-v01@openssh.com",
    "rsa-sha2-256",
    "rsa-sha2-256-cert-v01@openssh.com",
)


def render_drop_in(
    permit_root_login: str = "prohibit-password",
    max_auth_tries: int = 3,
    login_grace_time: int = 30,
    client_alive_interval: int = 300,
    client_alive_count_max: int = 2,
    allow_users: list[str] | tuple[str, ...] = (),
    allow_groups: list[str] | tuple[str, ...] = (),
) -> str:
    """The sshd drop-in for these settings."""
    return render(
        "sshd-hardening.conf.j2",
        kex=KEX,
        ciphers=CIPHERS,
        macs=MACS,
        host_key_algorithms=HOST_KEY_ALGORITHMS,
        permit_root_login=permit_root_login,
        max_auth_tries=int(max_auth_tries),
        login_grace_time=int(login_grace_time),
        client_alive_interval=int(client_alive_interval),
        client_alive_count_max=int(client_alive_count_max),
        allow_users=list(allow_users),
        allow_groups=list(allow_groups),
    )


@operation()
def sshd_hardening(content: str, path: str = DROP_IN):
    """
    Install an sshd drop-in after ``sshd -t`` accepted it, then reload sshd.

    + content: the drop-in text (see ``render_drop_in``)
    + path: where it goes; a file in ``/etc/ssh/sshd_config.d`` ending in ``.conf``

    **Example:**

    .. code:: python

        ssh.sshd_hardening(
            name="sshd: key-only, modern algorithms",
            content=ssh.render_drop_in(allow_groups=["ops"]),
        )
    """
    if not host.get_fact(SshdState)["installed"]:
        raise OperationError("sshd is not installed: nothing to harden")
    if host.get_fact(Sha1File, path=path) == sha1(content):
        host.noop(f"{path} is current")
        return
    staged, main = "/etc/ssh/hardening-staged.conf", "/etc/ssh/hardening-staged-main.conf"
    yield from files.put._inner(src=StringIO(content), dest=staged, mode="0600")
    yield StringCommand(
        "{ echo",
        QuoteString(f"Include {staged}"),
        "; cat /etc/ssh/sshd_config; } >",
        main,
        "&& sshd -t -f",
        main,
        "; status=$?; rm -f",
        main,
        "; if [ $status -ne 0 ]; then rm -f",
        staged,
        "; exit $status; fi",
    )
    yield StringCommand(
        "install -m 0644", staged, QuoteString(path), "&& rm -f", staged, "&& systemctl reload ssh"
    )


@operation()
def weak_crypto_material(min_bits: int = MIN_MODULUS_BITS):
    """
    Remove Diffie-Hellman moduli under ``min_bits`` and DSA/ECDSA host keys.

    + min_bits: smallest modulus size kept in ``/etc/ssh/moduli``

    **Example:**

    .. code:: python

        ssh.weak_crypto_material(name="Drop small DH moduli and weak host keys")
    """
    state = host.get_fact(SshdState)
    changed = False
    if state["small_moduli"]:
        changed = True
        yield StringCommand(
            f"awk '$1 ~ /^#/ || $5 >= {int(min_bits)}' /etc/ssh/moduli > /etc/ssh/moduli.new"
            " && chmod 644 /etc/ssh/moduli.new && mv -f /etc/ssh/moduli.new /etc/ssh/moduli"
        )
    for kind in WEAK_HOST_KEYS:
        if kind in state["host_keys"]:
            changed = True
            yield StringCommand(
                f"rm -f /etc/ssh/ssh_host_{kind}_key /etc/ssh/ssh_host_{kind}_key.pub"
            )
    if not changed:
        host.noop(f"no moduli under {min_bits} bits, no DSA/ECDSA host keys")
