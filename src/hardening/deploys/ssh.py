"""SSH server hardening: key-only login, modern algorithms, no weak moduli or host keys."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import DeployError, deploy

from hardening.operations import ssh as ssh_ops
from hardening.settings import setting

PERMIT_ROOT_LOGIN = ("prohibit-password", "no")


@deploy("SSH: key-only, modern algorithms, validated with sshd -t before reload")
def ssh_hardening() -> None:
    if not setting(host.data, "ssh_hardening_enabled"):
        host.noop("ssh_hardening_enabled is false for this host")
        return
    permit_root = setting(host.data, "ssh_permit_root_login")
    if permit_root not in PERMIT_ROOT_LOGIN:
        raise DeployError(
            f"{host.name}: ssh_permit_root_login must be one of {', '.join(PERMIT_ROOT_LOGIN)}"
        )
    ssh_ops.sshd_hardening(
        name="sshd drop-in 10-hardening.conf",
        content=ssh_ops.render_drop_in(
            permit_root_login=permit_root,
            max_auth_tries=setting(host.data, "ssh_max_auth_tries"),
            login_grace_time=setting(host.data, "ssh_login_grace_time"),
            client_alive_interval=setting(host.data, "ssh_client_alive_interval"),
            client_alive_count_max=setting(host.data, "ssh_client_alive_count_max"),
            allow_users=setting(host.data, "ssh_allow_users"),
            allow_groups=setting(host.data, "ssh_allow_groups"),
        ),
    )
    ssh_ops.weak_crypto_material(name="Drop small DH moduli and DSA/ECDSA host keys")
