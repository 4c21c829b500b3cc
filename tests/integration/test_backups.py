"""Backups on a real host: pgBackRest to moto S3 over TLS, WAL archiving, timers, a restore
drill with measured RTO/RPO; fresh hosts fail, a deploy makes the items pass, a rerun changes
nothing, secrets never leak, a non-empty restore target is refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes, statuses
from tests.integration.s3_fixture import s3_service  # noqa: F401  (pytest fixture)
from tests.integration.textfile_helpers import (
    alert_passes_with_data,
    node_samples,
    wait_for_series,
)

ITEMS = (
    "DB-01",
    "DB-02",
    "PRE-02",
    "POST-06",
    "OPS-D-04",
    "OPS-M-04",
    "DR-BAK-01",
    "DR-BAK-04",
    "DR-RPO-01",
    "DR-RTO-01",
    "SEC-09",  # encryption at rest: the encrypted repository (the disk is not observable here)
)
SCRATCH = "/var/lib/hardening/drill/data"


def point_backups_at(state: Path, s3, env: dict[str, str]) -> None:  # noqa: ANN001 - S3Service
    """Point every host of a bed's ``inventory.json`` at the S3 service (bucket pgbackrest,
    drill verifies pgbench_accounts) and put its key into ``env`` (also used by bench/)."""
    s3.create_bucket("pgbackrest")
    document = json.loads(state.read_text())
    for entry in document["hosts"]:
        entry["data"].update(
            backup_s3_endpoint=entry["data"]["testbed_gateway"],
            backup_s3_port=s3.port,
            backup_s3_ca_file=str(s3.ca_file),
            backup_start_fast=True,
            backup_drill_tables=["postgres/pgbench_accounts"],
        )
    state.write_text(json.dumps(document))
    env["HARDENING_BACKUP_S3_KEY"] = s3.key
    env["HARDENING_BACKUP_S3_KEY_SECRET"] = s3.secret


@pytest.fixture(scope="module")
def bed(module_bed, s3_service):  # noqa: F811
    module_bed.run("tb1", "runuser -u postgres -- pgbench -q -i -s 2 postgres 2>&1 | tail -1")
    state = Path(module_bed.env["HARDENING_TESTBED_STATE"]) / "inventory.json"
    point_backups_at(state, s3_service, module_bed.env)
    module_bed.s3 = s3_service
    return module_bed


def test_fresh_host_fails(bed, tmp_path: Path) -> None:
    _, report = audit_json(bed, tmp_path, "--limit", "tb1")
    found = statuses(report)
    for item in ITEMS:
        assert found[("tb1", item)] == "fail", (item, evidence(report, "tb1", item))


def test_deploy_and_drill_make_items_pass_and_rerun_changes_nothing(bed, tmp_path: Path) -> None:
    first = bed.pyinfra("deploys/backups.py", "--limit", "tb1")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert pyinfra_changes(first) > 0
    drill = bed.pyinfra("deploys/restore_drill.py", "--limit", "tb1")
    assert drill.returncode == 0, drill.stdout[-3000:] + drill.stderr[-3000:]
    _, report = audit_json(bed, tmp_path, "--limit", "tb1")
    found = statuses(report)
    for item in ITEMS:
        assert found[("tb1", item)] == "pass", (item, evidence(report, "tb1", item))
    assert "pgbench_accounts=200000 rows" in evidence(report, "tb1", "DB-02")
    assert "cipher=aes-256-cbc" in evidence(report, "tb1", "DR-BAK-01")
    result = json.loads(bed.run("tb1", "cat /var/lib/hardening/drill/last.json"))
    assert result["ok"] and result["rto_seconds"] < 3600
    assert bed.run("tb1", f"test -e {SCRATCH} && echo left || echo gone").strip() == "gone"
    second = bed.pyinfra("deploys/backups.py", "--limit", "tb1")
    assert pyinfra_changes(second) == 0, second.stdout[-3000:]


def test_backup_runs_are_recorded_for_prometheus(bed) -> None:
    """MON-INFO-02's data: every run writes backup.prom (the first backup by the deploy, then
    the systemd unit's ExecStopPost); a failed run keeps the last success time."""
    ok = 'backup_last_exit_code{stanza="main"}'
    success = 'backup_last_success_timestamp_seconds{stanza="main"}'
    first = node_samples(bed, "tb1", "backup_")
    assert first[ok] == 0 and first[success] > 0, first
    assert 'backup_last_duration_seconds{stanza="main"}' in first
    failed = bed.ssh("tb1", "systemctl start hardening-backup@nonsense.service")
    assert failed.returncode != 0
    after_failure = node_samples(bed, "tb1", "backup_")
    assert after_failure[ok] != 0 and after_failure[success] == first[success], after_failure
    bed.run("tb1", "systemctl start hardening-backup@incr.service")
    after_incr = node_samples(bed, "tb1", "backup_")
    assert after_incr[ok] == 0 and after_incr[success] >= first[success], after_incr
    assert wait_for_series(bed, "tb1", "backup_last_success_timestamp_seconds"), (
        "the host's Prometheus never scraped backup_last_success_timestamp_seconds"
    )


def test_backup_alert_has_data_once_monitoring_is_deployed(bed, tmp_path: Path) -> None:
    """MON-INFO-02 end to end: the monitoring host's Prometheus (deploys/monitoring.py) reads
    the backup series and the item passes with them (a repository is declared)."""
    alert_passes_with_data(bed, tmp_path, "MON-INFO-02", "BackupNotCompleted")


def test_restore_target_not_empty_is_refused(bed) -> None:
    bed.run("tb1", f"mkdir -p {SCRATCH} && echo keep > {SCRATCH}/precious")
    done = bed.pyinfra("deploys/restore_drill.py", "--limit", "tb1")
    assert done.returncode != 0
    assert f"restore target {SCRATCH} is not empty" in done.stdout + done.stderr
    assert bed.run("tb1", f"cat {SCRATCH}/precious").strip() == "keep"
    bed.run("tb1", f"rm -rf {SCRATCH}")


def test_secrets_never_leak(bed, tmp_path: Path) -> None:
    passphrase = bed.run(
        "tb1", "sed -n 's/^repo1-cipher-pass=//p' /etc/pgbackrest/conf.d/hardening-cipher.conf"
    ).strip()
    assert len(passphrase) >= 60
    modes = bed.run("tb1", "stat -c %a:%U /etc/pgbackrest/conf.d/*.conf").split()
    assert modes == ["600:postgres", "600:postgres"]
    outputs = [bed.pyinfra("deploys/backups.py", "--limit", "tb1", "-vvv", "--diff")]
    outputs.append(bed.hardening("audit", bed.inventory, "--limit", "tb1", "--format", "json"))
    outputs.append(bed.ssh("tb1", "ps auxww; journalctl --no-pager -o cat"))
    for done in outputs:
        for secret in (passphrase, bed.s3.secret):
            assert secret not in done.stdout + done.stderr
    assert os.environ.get("HARDENING_BACKUP_S3_KEY_SECRET") != bed.s3.secret
