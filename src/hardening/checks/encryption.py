"""Encryption at rest (SEC-09): the database's data directory and its backups."""

from __future__ import annotations

from hardening.checks import HostContext, check
from hardening.facts.host import Virtualization
from hardening.facts.pgbackrest import PgbackrestConfig
from hardening.facts.storage import DirectoryEncryption
from hardening.results import Outcome
from hardening.settings import default

STRONG_CIPHERS = ("aes-256-cbc",)


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
    return [], [
        f"{path} is on {context} {where['fstype'] or 'filesystem'} ({where['source']}): "
        "block-level encryption is not observable from inside (not applicable here; "
        "check the volume that backs it)"
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


@check("tls.encryption_at_rest")
def encryption_at_rest(ctx: HostContext) -> Outcome:
    """Data directory on an encrypted device (where observable) and encrypted backups."""
    path = ctx.setting("postgres_data_directory", default("postgres_data_directory"))
    disk_problems, disk_seen = _disk(ctx, path)
    backup_problems, backup_seen = _backups(ctx)
    return Outcome.judge(
        disk_problems + backup_problems,
        disk_seen + backup_seen,
        fix="put the data directory on a LUKS volume and run deploys/backups.py "
        "(repo1-cipher-type=aes-256-cbc)",
    )
