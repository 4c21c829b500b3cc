"""PostgreSQL bad input and faults on real hosts (issue 7): an inventory with two primaries, a
primary the standby cannot reach, an unreachable backup repository and a repository stanza of
another cluster each stop with one clear line, and nothing is changed or overwritten.
(A non-empty restore target is refused in test_backups.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.harden_helpers import audit_json, evidence, snapshot, statuses
from tests.integration.s3_fixture import free_port, s3_service  # noqa: F401  (pytest fixture)

PSQL = "runuser -u postgres -- psql -XAtq -c"
ARCHIVE_CONF = "/etc/postgresql/15/main/conf.d/50-hardening-backup.conf"
INFO = "cd /tmp && runuser -u postgres -- pgbackrest --output=json --stanza=main info"


def _edit_host(bed, name: str, groups: list[str] | None = None, **data) -> None:
    """Change one host of this module's bed inventory: its groups and/or data."""
    path = Path(bed.env["HARDENING_TESTBED_STATE"]) / "inventory.json"
    document = json.loads(path.read_text())
    for entry in document["hosts"]:
        if entry["name"] == name:
            entry["data"].update(data)
            if groups is not None:
                entry["groups"] = groups
    path.write_text(json.dumps(document))


def _output(done) -> str:  # noqa: ANN001 - CompletedProcess
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def bed(module_bed, s3_service):  # noqa: F811
    s3_service.create_bucket("pgbackrest")
    tb1 = next(h for h in module_bed.hosts if h.name == "tb1")
    module_bed.closed_port = free_port()  # nothing listens there: the repository is down
    _edit_host(
        module_bed,
        "tb1",
        backup_s3_endpoint=tb1.gateway,
        backup_s3_port=module_bed.closed_port,
        backup_s3_ca_file=str(s3_service.ca_file),
        backup_start_fast=True,
    )
    module_bed.env["HARDENING_BACKUP_S3_KEY"] = s3_service.key
    module_bed.env["HARDENING_BACKUP_S3_KEY_SECRET"] = s3_service.secret
    module_bed.s3 = s3_service
    module_bed.tb1 = tb1
    return module_bed


def test_two_primaries_are_refused_before_anything_changes(bed) -> None:
    before = {name: snapshot(bed, name) for name in ("tb1", "tb2")}
    _edit_host(bed, "tb2", groups=["db_primary"])
    try:
        done = bed.pyinfra("deploys/postgres.py")
    finally:
        _edit_host(bed, "tb2", groups=["db_replica"])
    assert done.returncode != 0
    assert "the inventory has 2 primaries (tb1, tb2): keep one" in _output(done)
    assert {name: snapshot(bed, name) for name in ("tb1", "tb2")} == before


def test_an_unreachable_primary_leaves_the_standby_untouched(bed, tmp_path: Path) -> None:
    # the fresh primary listens on localhost only: the standby cannot reach it
    deploy = tmp_path / "standby.py"
    deploy.write_text(
        "from hardening.operations import postgres_replication as r\n"
        f"r.standby(name='standby', primary_name='tb1', primary_address='{bed.tb1.address}')\n"
    )
    done = bed.pyinfra(str(deploy), "--limit", "tb2")
    assert done.returncode != 0
    assert (
        f"the primary tb1 at {bed.tb1.address}:5432 is unreachable (pg_isready exit 2)"
        in _output(done)
    )
    assert "nothing was changed" in _output(done)
    assert bed.run("tb2", f"{PSQL} 'SELECT pg_is_in_recovery()'").strip() == "f"
    assert bed.run("tb2", "ls /var/lib/postgresql/15/ | tr '\\n' ' '").strip() == "main"
    assert bed.run("tb2", "test -e /var/lib/postgresql/.pgpass && echo y || echo n") == "n\n"


def test_an_unreachable_repository_stops_before_archiving(bed, tmp_path: Path) -> None:
    url = f"https://{bed.tb1.gateway}:{bed.closed_port}/pgbackrest"
    done = bed.pyinfra("deploys/backups.py", "--limit", "tb1")
    assert done.returncode != 0
    lines = [line for line in _output(done).splitlines() if f"{url} is not usable" in line]
    assert lines and "check that this host reaches" in lines[0], _output(done)[-3000:]
    assert "WAL archiving was not enabled" in lines[0]
    assert bed.run("tb1", f"{PSQL} 'SHOW archive_mode'").strip() == "off"
    assert bed.run("tb1", f"test -e {ARCHIVE_CONF} && echo y || echo n") == "n\n"
    _, report = audit_json(bed, tmp_path, "--limit", "tb1")
    assert statuses(report)[("tb1", "DB-01")] == "fail"
    line = evidence(report, "tb1", "DB-01")
    assert f"repository {url} is not usable from this host" in line, line
    assert bed.s3.secret not in _output(done) + json.dumps(report)


def test_a_stanza_of_another_cluster_is_not_overwritten(bed, tmp_path: Path) -> None:
    _edit_host(bed, "tb1", backup_s3_port=bed.s3.port)
    done = bed.pyinfra("deploys/backups.py", "--limit", "tb1")
    assert done.returncode == 0, _output(done)[-3000:]
    stanza = json.loads(bed.run("tb1", INFO))[0]
    assert stanza["backup"] and stanza["status"]["code"] == 0
    # a new cluster in the same place: a new system identifier, the old stanza in the repository
    bed.run(
        "tb1",
        "pg_dropcluster 15 main --stop && pg_createcluster 15 main --start >/dev/null",
        timeout=300,
    )
    done = bed.pyinfra("deploys/backups.py", "--limit", "tb1")
    assert done.returncode != 0
    owner = str(stanza["db"][-1]["system-id"])
    assert f"belongs to another cluster (system-id {owner}, this cluster" in _output(done)
    assert json.loads(bed.run("tb1", INFO))[0]["backup"] == stanza["backup"]
    _, report = audit_json(bed, tmp_path, "--limit", "tb1")
    assert statuses(report)[("tb1", "DB-01")] == "fail"
    assert (
        f"stanza main in https://{bed.tb1.gateway}:{bed.s3.port}/pgbackrest belongs to"
        f" another cluster (system-id {owner}, this cluster" in evidence(report, "tb1", "DB-01")
    )
