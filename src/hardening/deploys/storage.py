"""SEC-09 (disk part): PostgreSQL's data on a LUKS2-encrypted volume, where the operator
asks for it (``postgres_luks_device``); nothing happens on hosts without that setting."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from hardening.deploys._common import require_valid_data
from hardening.operations import storage as storage_ops
from hardening.settings import setting


@deploy("Encryption at rest: LUKS2 volume for PostgreSQL's data")
def encrypted_data_volume() -> None:
    """Format (only a blank device), open, mount and register the volume at boot.

    **Example** (inventory data of a database host, before PostgreSQL's data exists)::

        postgres_luks_device = "/dev/disk/by-id/virtio-pgdata"
        postgres_luks_mount_point = "/var/lib/postgresql"
    """
    require_valid_data()
    device = setting(host.data, "postgres_luks_device")
    if not device:
        host.noop("postgres_luks_device is not set: no encrypted volume requested")
        return
    mapping = setting(host.data, "postgres_luks_mapping")
    mount_point = setting(host.data, "postgres_luks_mount_point")
    storage_ops.luks_volume(
        name=f"LUKS2 volume {mapping} on {device} mounted at {mount_point}",
        device=device,
        mapping=mapping,
        mount_point=mount_point,
        key_file=setting(host.data, "postgres_luks_key_file"),
    )
