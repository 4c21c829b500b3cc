"""Encryption at rest (SEC-09): the database's data directory and its backups, and for
databases on Amazon RDS (``cloud.rds_instances``) the instances' ``StorageEncrypted``."""

from __future__ import annotations

from hardening import cloud
from hardening.checks import HostContext, check
from hardening.facts.host import Virtualization
from hardening.facts.pgbackrest import PgbackrestConfig
from hardening.facts.storage import DirectoryEncryption
from hardening.results import Outcome
from hardening.settings import default

STRONG_CIPHERS = ("aes-256-cbc",)
RDS_FIX = (
    "RDS cannot encrypt an instance in place: snapshot it, copy the snapshot with "
    "--kms-key-id (encrypted copy), restore a new instance from the copy, switch the "
    "application to it, then delete the unencrypted instance"
)
DISK_FIX = "put the data directory on a LUKS volume (postgres_luks_device, deploys/storage.py)"
BACKUP_FIX = "run deploys/backups.py (repo1-cipher-type=aes-256-cbc with a passphrase)"


def _disk(ctx: HostContext, path: str) -> tuple[list[str], list[str]]:
    """(problems, observations) about the block device beneath ``path``."""
    where = ctx.fact(DirectoryEncryption, path=path)
    if not where["exists"]:
        return [], [f"{path} does not exist"]
    if where["block_device"]:
        chain = " <- ".join(where["chain"])
        if where["crypt"]:
            return [], [f"{path} on dm-crypt ({chain})"]
        return [f"{path} is on an unencrypted block device ({chain})"], []
    container = ctx.fact(Virtualization)["container"]
    context = f"a {container} container's" if container != "none" else "a virtual"
    kernel = (
        ""
        if where.get("device_mapper", True)
        else "; the kernel has no device-mapper (dm_mod), so no LUKS volume can be opened here"
    )
    return [], [
        f"{path} is on {context} {where['fstype'] or 'filesystem'} ({where['source']}): "
        "block-level encryption is not observable from inside (not applicable here; "
        f"check the volume that backs it{kernel})"
    ]


def _backups(ctx: HostContext) -> tuple[list[str], list[str]]:
    config = ctx.fact(PgbackrestConfig)
    if not config["exists"]:
        return ["no backup repository configured (run deploys/backups.py)"], []
    cipher = config["options"].get("global", {}).get("repo1-cipher-type", "none")
    if cipher not in STRONG_CIPHERS:
        return [f"backup repository cipher is {cipher!r}, not aes-256-cbc"], []
    passphrase = config["options"].get("global", {}).get("repo1-cipher-pass") == "set"
    if not passphrase:
        return ["backup repository has a cipher type but no passphrase"], []
    return [], [f"backup repository encrypted ({cipher}, passphrase set)"]


def _rds(config: cloud.CloudConfig) -> tuple[list[str], list[str]]:
    """(problems, observations) about the RDS instances of the deployment."""
    try:
        instances = cloud.rds_status(config)["instances"]
    except cloud.CloudError as error:
        return [f"could not observe RDS: {error}"], []
    problems, seen = [], []
    for instance in instances:
        name = f"RDS {instance['id']}"
        if not instance["exists"]:
            problems.append(f"{name} not found ({config.where}); fix cloud.rds_instances")
        elif instance["storage_encrypted"]:
            seen.append(f"{name}: StorageEncrypted (KMS key {instance['kms_key_id'] or '?'})")
        else:
            problems.append(f"{name}: storage not encrypted (StorageEncrypted false)")
    return problems, seen


@check("tls.encryption_at_rest")
def encryption_at_rest(ctx: HostContext) -> Outcome:
    """Data directory on an encrypted device (where observable) and encrypted backups; RDS
    instances named in ``cloud.rds_instances`` encrypted (their backups and snapshots are
    encrypted with the same key). A host of an RDS deployment without a local data
    directory is judged on RDS alone."""
    config = cloud.config_from(ctx.data)
    on_rds = bool(config and config.rds_instances)
    problems, seen = _rds(config) if config and on_rds else ([], [])
    fixes = [RDS_FIX] if problems else []
    path = ctx.setting("postgres_data_directory", default("postgres_data_directory"))
    if not on_rds or ctx.fact(DirectoryEncryption, path=path)["exists"]:
        for (part_problems, part_seen), fix in (
            (_disk(ctx, path), DISK_FIX),
            (_backups(ctx), BACKUP_FIX),
        ):
            problems, seen = problems + part_problems, seen + part_seen
            fixes += [fix] if part_problems else []
    return Outcome.judge(problems, seen, fix="; ".join(fixes))
