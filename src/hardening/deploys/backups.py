"""DB-01, DR-BAK-01, OPS-D-04, DR-RPO-01 ...: pgBackRest backups to S3, restore drills.

Applies to hosts of the db groups that have ``backup_s3_endpoint`` set. S3 credentials come
from ``backup_s3_key``/``backup_s3_key_secret`` or, when empty, from the control node's
``$HARDENING_BACKUP_S3_KEY``/``$HARDENING_BACKUP_S3_KEY_SECRET``.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy

from hardening.deploys._common import DB_GROUPS, in_groups
from hardening.operations import backups as backup_ops
from hardening.operations import restore_drill as drill_ops
from hardening.settings import setting

STANZA = "main"


def _configured() -> bool:
    """True on db hosts with a backup repository configured."""
    return in_groups(*DB_GROUPS) and bool(setting(host.data, "backup_s3_endpoint"))


def _credential(key: str, env: str) -> str:
    return setting(host.data, key) or os.environ.get(env, "")


@deploy("Backups")
def backups() -> None:
    """Encrypted pgBackRest repository, WAL archiving, stanza, first backup, timers, drill."""
    if not _configured():
        return
    ca_file = setting(host.data, "backup_s3_ca_file")
    backup_ops.repository(
        name="pgBackRest repository (S3, encrypted)",
        endpoint=setting(host.data, "backup_s3_endpoint"),
        port=setting(host.data, "backup_s3_port"),
        bucket=setting(host.data, "backup_s3_bucket"),
        region=setting(host.data, "backup_s3_region"),
        repo_path=setting(host.data, "backup_repo_path") or f"/pgbackrest/{host.name}",
        ca_pem=Path(ca_file).read_text() if ca_file else "",
        key=_credential("backup_s3_key", "HARDENING_BACKUP_S3_KEY"),
        key_secret=_credential("backup_s3_key_secret", "HARDENING_BACKUP_S3_KEY_SECRET"),
        retention_full=setting(host.data, "backup_retention_full"),
        start_fast=setting(host.data, "backup_start_fast"),
        stanza=STANZA,
    )
    backup_ops.archiving(name="WAL archiving to pgBackRest", stanza=STANZA)
    backup_ops.stanza(name="pgBackRest stanza", stanza=STANZA)
    backup_ops.backup(name="First full backup", stanza=STANZA, only_if_none=True)
    backup_ops.schedule(
        name="Backup timers (weekly full, daily differential)",
        stanza=STANZA,
        full_calendar=setting(host.data, "backup_full_calendar"),
        diff_calendar=setting(host.data, "backup_diff_calendar"),
    )
    drill_ops.install(
        name="Restore drill (monthly timer)",
        stanza=STANZA,
        port=setting(host.data, "backup_drill_port"),
        tables=setting(host.data, "backup_drill_tables"),
        calendar=setting(host.data, "backup_drill_calendar"),
    )


@deploy("Restore drill")
def restore_drill() -> None:
    """Run the restore drill now (DB-02, DR-BAK-04, OPS-M-04, DR-RTO-01, DR-RPO-01)."""
    if not _configured():
        return
    drill_ops.drill(
        name="Restore drill",
        target=setting(host.data, "drill_target"),
        force=setting(host.data, "drill_force"),
    )


@deploy("Pre-flight backup")
def preflight_backup() -> None:
    """A fresh full backup before a deployment (PRE-02)."""
    if not _configured():
        return
    backup_ops.backup(name="Pre-flight full backup", stanza=STANZA, only_if_none=False)
