"""PostgreSQL (issue 7) on two real hosts: fresh hosts fail DB-03, DB-05..DB-08, DEP-07,
OPS-D-03 and OPS-W-05; deploys/postgres.py hardens tb1 (db_primary) and builds tb2 as its
streaming standby; a rerun changes nothing; the replication password never leaks;
deploys/failover.py promotes tb2, fences tb1 and repoints tb1's pgBouncer."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.integration.harden_helpers import (
    audit_json,
    evidence,
    pyinfra_changes,
    snapshot,
    statuses,
)

ITEMS = ("DB-03", "DB-05", "DB-07", "DB-08", "DEP-07", "OPS-D-03", "OPS-W-05")
PSQL = "runuser -u postgres -- psql -XAtq -c"
INDEX = {"table": "public.orders", "columns": ["customer_id"], "name": "orders_customer_idx"}


def _set_host_data(bed, name: str, **data) -> None:
    """Add inventory data to one host of this module's bed (its own state file)."""
    path = Path(bed.env["HARDENING_TESTBED_STATE"]) / "inventory.json"
    document = json.loads(path.read_text())
    for entry in document["hosts"]:
        if entry["name"] == name:
            entry["data"].update(data)
    path.write_text(json.dumps(document))


@pytest.fixture(scope="module")
def bed(module_bed):
    # A table of 20000 rows that the application reads by customer_id without an index.
    module_bed.run(
        "tb1",
        f"{PSQL} 'CREATE TABLE public.orders AS SELECT g AS id, g % 500 AS customer_id"
        " FROM generate_series(1, 20000) g' && for i in 1 2 3 4 5; do"
        f" {PSQL} 'SELECT count(*) FROM orders WHERE customer_id = 7' >/dev/null; done",
    )
    time.sleep(1)  # table statistics are flushed about once a second
    return module_bed


def test_fresh_hosts_fail_and_the_audit_changes_nothing(bed, tmp_path: Path) -> None:
    before = snapshot(bed, "tb1")
    _, report = audit_json(bed, tmp_path)
    assert snapshot(bed, "tb1") == before
    found = statuses(report)
    for host in ("tb1", "tb2"):
        for item in ITEMS:
            assert found[(host, item)] == "fail", (host, item, evidence(report, host, item))
    assert found[("tb1", "DB-06")] == "fail"
    assert "postgres.public.orders: 20000 rows" in evidence(report, "tb1", "DB-06")
    assert "log_connections=off" in evidence(report, "tb1", "DB-05")
    assert "primary without a streaming standby" in evidence(report, "tb1", "DB-03")


def test_deploy_passes_and_a_rerun_changes_nothing(bed, tmp_path: Path) -> None:
    _set_host_data(bed, "tb1", postgres_indexes=[INDEX])
    started = time.monotonic()
    first = bed.pyinfra("deploys/postgres.py")
    seconds = time.monotonic() - started
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert pyinfra_changes(first) > 0
    print(f"deploys/postgres.py on 2 hosts (standby built): {seconds:.1f} s")
    _, report = audit_json(bed, tmp_path)
    found = statuses(report)
    for host in ("tb1", "tb2"):
        for item in (*ITEMS, "DB-04", "DB-06"):
            assert found[(host, item)] == "pass", (host, item, evidence(report, host, item))
    assert "declared index orders_customer_idx exists" in evidence(report, "tb1", "DB-06")
    assert "slot tb2 active" in evidence(report, "tb1", "DB-03")
    assert "WAL receiver streaming" in evidence(report, "tb2", "DB-03")
    second = bed.pyinfra("deploys/postgres.py")
    assert second.returncode == 0, second.stdout[-3000:]
    assert pyinfra_changes(second) == 0, second.stdout[-3000:]


def test_changes_and_the_heartbeat_arrive_on_the_standby(bed) -> None:
    bed.run("tb1", f"{PSQL} 'INSERT INTO orders VALUES (-1, -1)'")
    deadline = time.monotonic() + 10
    while bed.run("tb2", f"{PSQL} 'SELECT count(*) FROM orders WHERE id = -1'").strip() != "1":
        assert time.monotonic() < deadline, "the row did not reach the standby in 10 s"
        time.sleep(0.2)
    first = bed.run("tb2", f"{PSQL} 'SELECT ts FROM hardening.heartbeat'")
    time.sleep(11)
    assert bed.run("tb2", f"{PSQL} 'SELECT ts FROM hardening.heartbeat'") != first
    assert bed.run("tb2", f"{PSQL} 'SELECT pg_is_in_recovery()'").strip() == "t"


def test_the_replication_password_never_leaks(bed, tmp_path: Path) -> None:
    password = bed.run("tb1", "cat /var/lib/postgresql/.hardening-replication-password").strip()
    assert len(password) == 40
    for host, path in (
        ("tb1", "/var/lib/postgresql/.hardening-replication-password"),
        ("tb2", "/var/lib/postgresql/.pgpass"),
    ):
        assert bed.run(host, f"stat -c %a:%U {path}").strip() == "600:postgres"
    outputs = [bed.pyinfra("deploys/postgres.py", "-vvv", "--diff")]
    outputs.append(bed.hardening("audit", bed.inventory, "--format", "json"))
    for done in outputs:
        assert password not in done.stdout + done.stderr
    for host in ("tb1", "tb2"):
        traces = bed.run(
            host,
            "cat /var/log/postgresql/*.log; journalctl --no-pager -o cat;"
            f" {PSQL} 'SELECT query FROM pg_stat_statements'; cat /var/lib/hardening/postgres/*",
        )
        assert password not in traces, host


def test_a_standby_with_data_is_refused(bed, tmp_path: Path) -> None:
    deploy = tmp_path / "standby.py"
    deploy.write_text(
        "from hardening.operations import postgres_replication as r\n"
        "r.standby(name='standby over data', primary_name='tb2', primary_address='10.0.0.1')\n"
    )
    done = bed.pyinfra(str(deploy), "--limit", "tb1")
    assert done.returncode != 0
    assert "refusing to replace the cluster" in done.stdout + done.stderr
    assert bed.run("tb1", f"{PSQL} 'SELECT count(*) FROM orders'").strip() == "20001"


def test_failover_promotes_fences_and_repoints(bed) -> None:
    started = time.monotonic()
    done = bed.pyinfra("deploys/failover.py")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"deploys/failover.py: {time.monotonic() - started:.1f} s")
    assert bed.run("tb2", f"{PSQL} 'SELECT pg_is_in_recovery()'").strip() == "f"
    bed.run("tb2", f"{PSQL} 'INSERT INTO orders VALUES (-2, -2)'")
    assert bed.ssh("tb1", "systemctl is-active postgresql@15-main").stdout.strip() != "active"
    assert bed.run("tb1", "systemctl is-enabled postgresql@15-main || true").strip() == "masked"
    assert bed.run("tb1", "test -e /var/lib/postgresql/15/main/standby.signal && echo y") == "y\n"
    tb2 = next(h for h in bed.hosts if h.name == "tb2")
    assert f"host={tb2.address}" in bed.run("tb1", "cat /etc/pgbouncer/pgbouncer.ini")
