"""DB-01, DR-BAK-01, OPS-D-04, DR-RPO-01 ...: pgBackRest backups to S3, restore drills.

Applies to hosts of the db groups that have ``backup_s3_endpoint`` set. S3 credentials come
from ``backup_s3_key``/``backup_s3_key_secret`` or, when empty, from the control node's
``$HARDENING_BACKUP_S3_KEY``/``$HARDENING_BACKUP_S3_KEY_SECRET``.

One cluster, one repository: the primary (the inventory's ``db_primary`` host) and its
streaming standbys (``db_replica``) share ``/pgbackrest/<primary>`` and its passphrase. The
primary creates the stanza, archives WAL and runs the backup timers; a standby only gets
the same pgbackrest.conf (``pgbackrest info``, ``archive-get``, restores) and the restore
drill, which restores the primary's newest backup into a scratch directory there.

The repository passphrase: with a ``secrets_backend`` it lives there as
``<primary>/pgbackrest-cipher`` (generated on the control node the first time) and reaches
every host of the cluster as a 0600 file; without a backend the primary generates it on
the host and a standby cannot share it, so standbys are skipped (the audit says why).
"""

from __future__ import annotations

import os
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api import deploy

from hardening.deploys._common import DB_GROUPS, in_groups
from hardening.deploys.postgres import _the_primary
from hardening.operations import backups as backup_ops
from hardening.operations import restore_drill as drill_ops
from hardening.settings import setting

STANZA = "main"


def _configured() -> bool:
    """True on db hosts with a backup repository configured."""
    return in_groups(*DB_GROUPS) and bool(setting(host.data, "backup_s3_endpoint"))


def _is_standby() -> bool:
    """A streaming standby: in db_replica and not in db_primary."""
    return in_groups("db_replica") and not in_groups("db_primary")


def _primary_name() -> str:
    """Inventory name of the cluster's primary (this host when the inventory has none)."""
    primary = _the_primary()  # two primaries: DeployError
    return primary.name if primary is not None else host.name


def _credential(key: str, env: str) -> str:
    return setting(host.data, key) or os.environ.get(env, "")


@deploy("Backups")
def backups() -> None:
    """Encrypted pgBackRest repository, WAL archiving, stanza, first backup, timers, drill.

    On a standby: the primary's repository configuration and the restore drill only.
    """
    if not _configured():
        return
    primary = _primary_name()
    backend_config = setting(host.data, "secrets_backend")
    standby = _is_standby()
    if standby and not backend_config:
        logger.warning(
            f"{host.name}: backups skipped on this standby: without a secrets_backend it cannot"
            f" share the repository passphrase of the primary {primary}"
        )
        return
    ca_file = setting(host.data, "backup_s3_ca_file")
    endpoint = setting(host.data, "backup_s3_endpoint")
    port = setting(host.data, "backup_s3_port")
    bucket = setting(host.data, "backup_s3_bucket")
    backup_ops.repository(
        name="pgBackRest repository (S3, encrypted)",
        endpoint=endpoint,
        port=port,
        bucket=bucket,
        region=setting(host.data, "backup_s3_region"),
        repo_path=setting(host.data, "backup_repo_path") or f"/pgbackrest/{primary}",
        ca_pem=Path(ca_file).read_text() if ca_file else "",
        key=_credential("backup_s3_key", "HARDENING_BACKUP_S3_KEY"),
        key_secret=_credential("backup_s3_key_secret", "HARDENING_BACKUP_S3_KEY_SECRET"),
        retention_full=setting(host.data, "backup_retention_full"),
        start_fast=setting(host.data, "backup_start_fast"),
        stanza=STANZA,
        primary=primary,
        backend_config=backend_config or None,
        standby=standby,
    )
    if not standby:
        _primary_only(endpoint, port, bucket)
    drill_ops.install(
        name="Restore drill (monthly timer)",
        stanza=STANZA,
        port=setting(host.data, "backup_drill_port"),
        tables=setting(host.data, "backup_drill_tables"),
        calendar=setting(host.data, "backup_drill_calendar"),
    )


def _primary_only(endpoint: str, port: int, bucket: str) -> None:
    """Stanza, WAL archiving, first backup and timers: the primary's share of the work."""
    # the stanza first: an unusable repository stops the deploy before archiving is enabled
    backup_ops.stanza(
        name="pgBackRest stanza",
        stanza=STANZA,
        repository=f"https://{endpoint}:{port}/{bucket}",
    )
    backup_ops.archiving(name="WAL archiving to pgBackRest", stanza=STANZA)
    backup_ops.backup(name="First full backup", stanza=STANZA, only_if_none=True)
    backup_ops.schedule(
        name="Backup timers (weekly full, daily differential)",
        stanza=STANZA,
        full_calendar=setting(host.data, "backup_full_calendar"),
        diff_calendar=setting(host.data, "backup_diff_calendar"),
    )


@deploy("Restore drill")
def restore_drill() -> None:
    """Run the restore drill now (DB-02, DR-BAK-04, OPS-M-04, DR-RTO-01, DR-RPO-01).

    On a standby it restores the primary's newest backup (needs a ``secrets_backend``).
    """
    if not _configured() or (_is_standby() and not setting(host.data, "secrets_backend")):
        return
    drill_ops.drill(
        name="Restore drill",
        target=setting(host.data, "drill_target"),
        force=setting(host.data, "drill_force"),
    )


@deploy("Pre-flight backup")
def preflight_backup() -> None:
    """A fresh full backup before a deployment (PRE-02); on the primary only."""
    if not _configured() or _is_standby():
        return
    backup_ops.backup(name="Pre-flight full backup", stanza=STANZA, only_if_none=False)
