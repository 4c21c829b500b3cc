"""Backups of a primary + streaming standby sharing one repository (moto S3 over TLS) and one
passphrase from the secrets backend (OpenBao): deploys/backups.py succeeds on both hosts, a
rerun changes nothing, the audit passes DB-01 and DR-BAK-01 on both, and the restore drill
on the standby restores the primary's backup (a real cross-host restore)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hardening.testbed.services import BaoService, stop_pids
from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes, statuses
from tests.integration.s3_fixture import s3_service  # noqa: F401  (pytest fixture)
from tests.integration.test_backups import point_backups_at

BOTH = ("DB-01", "DR-BAK-01", "PRE-02", "POST-06", "OPS-D-04", "SEC-09")
CIPHER = "/etc/pgbackrest/conf.d/hardening-cipher.conf"


@pytest.fixture(scope="module")
def bao(tmp_path_factory):
    """OpenBao dev server (toolkit token in a 0600 file), stopped by PID."""
    service = BaoService(tmp_path_factory.mktemp("bao"))
    try:
        yield service.start()
    finally:
        stop_pids([proc.pid for proc in service.procs])


@pytest.fixture(scope="module")
def bed(module_bed, s3_service, bao):  # noqa: F811
    module_bed.run("tb1", "runuser -u postgres -- pgbench -q -i -s 1 postgres 2>&1 | tail -1")
    built = module_bed.pyinfra("deploys/postgres.py")  # tb2 becomes tb1's streaming standby
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    state = Path(module_bed.env["HARDENING_TESTBED_STATE"]) / "inventory.json"
    point_backups_at(state, s3_service, module_bed.env)
    document = json.loads(state.read_text())
    backend = {"type": "vault", "address": bao.address, "token_file": str(bao.token_file)}
    for entry in document["hosts"]:
        entry["data"]["secrets_backend"] = backend
    state.write_text(json.dumps(document))
    module_bed.s3 = s3_service
    return module_bed


def test_standby_shares_the_primarys_repository(bed, tmp_path: Path) -> None:
    _, fresh = audit_json(bed, tmp_path)
    for host in ("tb1", "tb2"):
        assert statuses(fresh)[(host, "DB-01")] == "fail", evidence(fresh, host, "DB-01")
    first = bed.pyinfra("deploys/backups.py")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "unable to find primary cluster" not in first.stdout + first.stderr
    drill = bed.pyinfra("deploys/restore_drill.py", "--limit", "tb2")
    assert drill.returncode == 0, drill.stdout[-3000:] + drill.stderr[-3000:]
    second = bed.pyinfra("deploys/backups.py")
    assert pyinfra_changes(second) == 0, second.stdout[-3000:]
    _, report = audit_json(bed, tmp_path)
    found = statuses(report)
    for host in ("tb1", "tb2"):
        for item in BOTH:
            assert found[(host, item)] == "pass", (host, item, evidence(report, host, item))
    assert "taken on the primary tb1" in evidence(report, "tb2", "DB-01")
    assert found[("tb2", "DR-RPO-01")] == "not_applicable", evidence(report, "tb2", "DR-RPO-01")
    assert found[("tb2", "DB-02")] == "pass", evidence(report, "tb2", "DB-02")
    assert "pgbench_accounts=100000 rows" in evidence(report, "tb2", "DB-02")
    # one repository path and one passphrase; no backup timers and no archiving on the standby
    for host in ("tb1", "tb2"):
        conf = bed.run(host, "grep ^repo1-path= /etc/pgbackrest/pgbackrest.conf").strip()
        assert conf == "repo1-path=/pgbackrest/tb1", (host, conf)
    sums = {bed.run(h, f"sha256sum {CIPHER} | cut -d' ' -f1").strip() for h in ("tb1", "tb2")}
    assert len(sums) == 1
    timers = bed.run("tb2", "systemctl list-timers --all --no-legend")
    assert "hardening-backup-" not in timers and "hardening-restore-drill" in timers
    passphrase = bed.run("tb1", f"sed -n 's/^repo1-cipher-pass=//p' {CIPHER}").strip()
    assert len(passphrase) >= 60
    for done in (first, drill, second):
        for secret in (passphrase, bed.s3.secret):
            assert secret not in done.stdout + done.stderr
