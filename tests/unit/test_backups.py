"""Backup facts parsed from captured output, backup checks judged on canned facts."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from pyinfra.api import OperationError
from pyinfra.context import ctx_host

from hardening.checks import HostContext, registry
from hardening.facts.pgbackrest import (
    BackupTimers,
    PgArchiver,
    PgbackrestConfig,
    PgbackrestInfo,
    RestoreDrillResult,
)
from hardening.operations import backups as backup_ops
from hardening.operations import postgres_replication as replication_ops
from hardening.operations._render import render, sha1
from hardening.operations.restore_drill import drill_settings
from hardening.results import Status
from hardening.settings import default
from tests.unit.test_monitoring_operations import FakeHost, commands, text

CHECKS = registry()
NOW = time.time()

INFO_OUTPUT = json.dumps(
    [
        {
            "name": "main",
            "cipher": "aes-256-cbc",
            "status": {"code": 0, "message": "ok"},
            "archive": [{"min": "000000010000000000000003", "max": "000000010000000000000009"}],
            "backup": [
                {
                    "label": "20240101-010000F",
                    "type": "full",
                    "timestamp": {"start": NOW - 3 * 86400, "stop": NOW - 3 * 86400 + 30},
                    "info": {"size": 1000, "repository": {"size": 100}},
                    "error": False,
                },
                {
                    "label": "20240101-010000F_20240103-010000D",
                    "type": "diff",
                    "timestamp": {"start": NOW - 3600, "stop": NOW - 3500},
                    "info": {"size": 1000, "repository": {"size": 10}},
                    "error": False,
                },
            ],
        }
    ]
).splitlines()


def test_info_parser_reads_backups_and_errors() -> None:
    fact = PgbackrestInfo().process(INFO_OUTPUT)
    assert fact["status_code"] == 0 and fact["cipher"] == "aes-256-cbc"
    assert [b["type"] for b in fact["backups"]] == ["full", "diff"]
    assert fact["archive_max"] == "000000010000000000000009"
    error = PgbackrestInfo().process(["ERROR: [039]: HTTP request failed", "more"])
    assert error["status"] == "error" and "HTTP request failed" in error["error"]
    assert PgbackrestInfo().process(["#absent"])["installed"] is False


def test_config_parser_never_returns_secret_values() -> None:
    fact = PgbackrestConfig().process(
        [
            "#file",
            "[global]",
            "repo1-retention-full=2",
            "repo1-cipher-pass=set",
            "[main]",
            "pg1-path=/var/lib/postgresql/15/main",
        ]
    )
    assert fact["options"]["global"] == {"repo1-retention-full": "2", "repo1-cipher-pass": "set"}
    assert fact["options"]["main"]["pg1-path"].endswith("main")


def test_archiver_and_timer_parsers() -> None:
    archiver = PgArchiver().process(
        [
            "archiver|5|1704070800.5|1|1704070000",
            "setting|archive_mode|on|true",
            "setting|archive_timeout|60|false",
            "setting|archive_command|pgbackrest --stanza=main archive-push %p|false",
        ]
    )
    assert archiver["archive_mode"] == "on" and archiver["archive_timeout"] == 60
    assert archiver["pending_restart"] == ["archive_mode"] and archiver["failed_count"] == 1
    assert PgArchiver().process(["#down"])["running"] is False
    timers = BackupTimers().process(
        [
            "#unit=hardening-backup-full.timer",
            "LoadState=loaded",
            "UnitFileState=enabled",
            "ActiveState=active",
            "TimersCalendar={ OnCalendar=Sun *-*-* 01:00:00 ; next_elapse=@1 }",
            "LastTriggerUSec=@1704070800",
            "NextElapseUSecRealtime=@1704675600",
            "#unit=hardening-restore-drill.timer",
            "LoadState=not-found",
        ]
    )
    assert timers == {
        "hardening-backup-full": {
            "enabled": True,
            "active": True,
            "calendar": "Sun *-*-* 01:00:00",
            "last_trigger": 1704070800.0,
            "next_elapse": 1704675600.0,
        }
    }


def context(facts: dict[type, Any], groups: tuple[str, ...] = ("db_primary",), **data: Any):
    def getter(fact_class: type, **kwargs: Any) -> Any:
        return facts.get(fact_class, fact_class.default())

    return HostContext("db1", groups, data, getter)


TIMER = {
    "enabled": True,
    "active": True,
    "calendar": "daily",
    "last_trigger": None,
    "next_elapse": None,
}
HEALTHY = {
    PgbackrestInfo: PgbackrestInfo().process(INFO_OUTPUT),
    PgbackrestConfig: {
        "exists": True,
        "options": {
            "global": {
                "repo1-retention-full": "2",
                "repo1-cipher-type": "aes-256-cbc",
                "repo1-cipher-pass": "set",
            }
        },
    },
    PgArchiver: {
        **PgArchiver.default(),
        "running": True,
        "archive_mode": "on",
        "archive_timeout": 60,
        "archive_command": "pgbackrest --stanza=main archive-push %p",
        "archived_count": 9,
        "last_archived_time": NOW - 60,
    },
    BackupTimers: {"hardening-backup-full": TIMER, "hardening-backup-diff": TIMER},
    RestoreDrillResult: {
        "exists": True,
        "ok": True,
        "last_success": NOW - 86400,
        "rto_seconds": 41.0,
        "rpo_seconds": 170.0,
        "rpo_source": "backup end",
        "backup_label": "x",
        "amcheck": "ok",
        "tables": {"t": 3},
    },
}
NAMES = (
    "postgres.backup_schedule",
    "postgres.backup_recent",
    "postgres.backup_retention",
    "postgres.restore_drill",
    "dr.rto_critical",
    "dr.rpo_database",
)


def test_healthy_host_passes_every_backup_check() -> None:
    for name in NAMES:
        outcome = CHECKS[name](context(HEALTHY))
        assert outcome.status is Status.PASS, (name, outcome.evidence)
    # the newest full is 3 days old: the pre-flight backup is missing
    assert CHECKS["deployday.preflight_backup"](context(HEALTHY)).status is Status.FAIL
    relaxed = context(HEALTHY, preflight_backup_max_age_hours=96)
    assert CHECKS["deployday.preflight_backup"](relaxed).status is Status.PASS


def test_fresh_host_fails_every_backup_check() -> None:
    for name in (*NAMES, "deployday.preflight_backup"):
        outcome = CHECKS[name](context({}))
        assert outcome.status is Status.FAIL and outcome.fix, name


def test_old_backup_failed_archiving_short_retention_old_drill_fail() -> None:
    archiver = {**HEALTHY[PgArchiver], "failed_count": 1, "last_failed_time": NOW - 10}
    outcome = CHECKS["postgres.backup_recent"](context({**HEALTHY, PgArchiver: archiver}))
    assert outcome.status is Status.FAIL and "WAL archiving failed" in outcome.evidence
    short = {"exists": True, "options": {"global": {"repo1-retention-full": "1"}}}
    outcome = CHECKS["postgres.backup_retention"](context({**HEALTHY, PgbackrestConfig: short}))
    assert "fewer than 7 days" in outcome.evidence and "not encrypted" in outcome.evidence
    old = {**HEALTHY[RestoreDrillResult], "last_success": NOW - 40 * 86400}
    outcome = CHECKS["postgres.restore_drill"](context({**HEALTHY, RestoreDrillResult: old}))
    assert outcome.status is Status.FAIL
    slow = {**HEALTHY[RestoreDrillResult], "rto_seconds": 4000.0}
    assert CHECKS["dr.rto_critical"](context({**HEALTHY, RestoreDrillResult: slow})).status is (
        Status.FAIL
    )
    stale = context(HEALTHY, backup_max_age_hours=0)
    assert CHECKS["postgres.backup_recent"](stale).status is Status.FAIL


def test_drill_settings_are_json_with_a_scratch_dir_outside_the_live_one() -> None:
    settings = json.loads(drill_settings("main", 55432, ["app/users"]))
    assert settings["scratch"].startswith("/var/lib/hardening/drill/")
    assert settings["tables"] == ["app/users"]


def _info(stanza: dict, sysid: str = "7001") -> dict:
    """PgbackrestInfo parsed from ``info`` JSON of one stanza plus this cluster's system id."""
    return PgbackrestInfo().process([f"#sysid={sysid}", *json.dumps([stanza]).splitlines()])


def test_info_parser_reads_system_ids_and_repository_errors() -> None:
    fact = _info({"status": {"code": 0, "message": "ok"}, "db": [
        {"id": 1, "system-id": 6999}, {"id": 2, "system-id": 7001}]})  # fmt: skip
    assert fact["system_id"] == "7001" and fact["local_system_id"] == "7001"
    down = _info(
        {
            "status": {"code": 99, "message": "other"},
            "repo": [{"key": 1, "status": {"code": 99, "message": "[039]: connection refused"}}],
        }
    )
    assert down["error"] == "[039]: connection refused"
    plain = PgbackrestInfo().process(["#sysid=", "WARN: x", "ERROR: [049]: unable to connect"])
    assert plain["error"] == "ERROR: [049]: unable to connect" and plain["local_system_id"] == ""


def test_unreachable_repository_and_stanza_of_another_cluster_fail_with_the_endpoint() -> None:
    options = {"repo1-s3-endpoint": "10.0.0.1", "repo1-storage-port": "9000"}
    config = {"exists": True, "options": {"global": {**options, "repo1-s3-bucket": "db"}}}
    down = {**HEALTHY[PgbackrestInfo], "error": "ERROR: [039]: connection refused"}
    for name in (*NAMES[:3], "deployday.preflight_backup"):
        outcome = CHECKS[name](context({**HEALTHY, PgbackrestConfig: config, PgbackrestInfo: down}))
        assert outcome.status is Status.FAIL, name
        assert "repository https://10.0.0.1:9000/db is not usable" in outcome.evidence, name
        assert "connection refused" in outcome.evidence
    other = {**HEALTHY[PgbackrestInfo], "system_id": "6999", "local_system_id": "7001"}
    outcome = CHECKS["postgres.backup_schedule"](context({**HEALTHY, PgbackrestInfo: other}))
    assert outcome.status is Status.FAIL
    assert "belongs to another cluster (system-id 6999, this cluster 7001)" in outcome.evidence
    same = {**other, "system_id": "7001"}
    outcome = CHECKS["postgres.backup_schedule"](context({**HEALTHY, PgbackrestInfo: same}))
    assert outcome.status is Status.PASS


def test_stanza_operation_refuses_another_clusters_stanza_and_names_the_repository() -> None:
    url = "https://10.0.0.1:9000/db"
    other = {**PgbackrestInfo.default(), "status_code": 0, "status": "ok"}
    fake = FakeHost(PgbackrestInfo={**other, "system_id": "6999", "local_system_id": "7001"})
    with pytest.raises(OperationError, match="belongs to another cluster .system-id 6999"):
        commands(backup_ops.stanza, fake, repository=url)
    fake = FakeHost(PgbackrestInfo={**other, "system_id": "7001", "local_system_id": "7001"})
    assert commands(backup_ops.stanza, fake, repository=url) == []
    fake = FakeHost(PgbackrestInfo={**PgbackrestInfo.default(), "error": "refused"})
    probe, create = [text(c) for c in commands(backup_ops.stanza, fake, repository=url)]
    assert probe.startswith("out=$(curl -sS -o /dev/null --max-time 15") and url in probe
    assert "stanza-create" in create and f"{url} is not usable" in create
    assert "WAL archiving was not enabled" in create and " check " not in create


def test_standby_checks_the_primary_before_it_touches_the_cluster() -> None:
    fresh = {"in_recovery": False, "databases": ["postgres"], "user_tables": 0, "pgpass": True}
    fake = FakeHost(PostgresReplication=fresh)
    fake.name = "db2"
    steps = [text(c) for c in commands(replication_ops.standby, fake, primary_name="db1",
                                        primary_address="10.0.0.1")]  # fmt: skip
    assert steps[0].startswith("pg_isready -q -t 10 -h 10.0.0.1 -p 5432 ||")
    assert "nothing was changed" in steps[0]
    assert "systemctl stop" in steps[1] and "the previous cluster was put back" in steps[1]
    fake = FakeHost(PostgresReplication={**fresh, "in_recovery": True})
    fake.name = "db2"
    kwargs = {"primary_name": "db1", "primary_address": "10.0.0.1"}
    assert commands(replication_ops.standby, fake, **kwargs) == []


def standby(facts: dict[type, Any]) -> HostContext:
    return context(facts, groups=("db_replica",))


STANDBY = {
    **HEALTHY,
    PgbackrestConfig: {**HEALTHY[PgbackrestConfig], "primary": "db1"},
    PgArchiver: {**PgArchiver.default(), "running": True, "archive_mode": "off"},
    BackupTimers: {},
}


def test_config_parser_reads_the_clusters_primary() -> None:
    fact = PgbackrestConfig().process(["#file", "#hardening-primary=db1", "[global]"])
    assert fact["primary"] == "db1"
    assert PgbackrestConfig().process(["#end"])["primary"] == ""


def test_standby_judges_the_repository_and_leaves_timers_and_archiving_to_the_primary() -> None:
    for name in ("postgres.backup_schedule", "postgres.backup_retention", "postgres.backup_recent"):
        outcome = CHECKS[name](standby(STANDBY))
        assert outcome.status is Status.PASS, (name, outcome.evidence)
        assert "backups of this cluster are taken on the primary db1" in outcome.evidence
    assert "WAL archived up to 000000010000000000000009" in (
        CHECKS["postgres.backup_recent"](standby(STANDBY)).evidence
    )
    rpo = CHECKS["dr.rpo_database"](standby(STANDBY))
    assert rpo.status is Status.NOT_APPLICABLE and "primary db1" in rpo.evidence
    # the same facts on a primary: timers and archiving are missing
    assert CHECKS["postgres.backup_schedule"](context(STANDBY)).status is Status.FAIL
    assert CHECKS["dr.rpo_database"](context(STANDBY)).status is Status.FAIL
    # a standby whose repository has no backup fails
    empty = {**STANDBY, PgbackrestInfo: PgbackrestInfo.default()}
    assert CHECKS["postgres.backup_schedule"](standby(empty)).status is Status.FAIL


class FakeBackend:
    """``ensure`` of a secrets backend, remembering the names asked for."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def ensure(self, name: str, make: Any) -> Any:
        self.names.append(name)
        return type("Record", (), {"current": {"passphrase": "p" * 64}})()


def cipher_commands(fake: FakeHost, standby: bool) -> list[str]:
    with ctx_host.use(fake):
        return [text(c) for c in backup_ops._cipher_from_backend({"type": "vault"}, "db1", standby)]


def test_passphrase_comes_from_the_backend_under_the_primarys_name(monkeypatch) -> None:
    backend = FakeBackend()
    monkeypatch.setattr(backup_ops, "backend_from_config", lambda config: backend)
    fake = FakeHost(Sha1File="0" * 40)
    done = cipher_commands(fake, standby=True)
    assert backend.names == ["db1/pgbackrest-cipher"]
    assert f"upload {backup_ops.PRIVATE_DIR}/upload" in done
    assert backup_ops.CIPHER_FILE in done[-1] and not any("p" * 64 in line for line in done)
    # a primary whose repository is encrypted with another passphrase is refused
    with pytest.raises(OperationError, match="other than the backend's db1/pgbackrest-cipher"):
        cipher_commands(fake, standby=False)
    # the backend's passphrase in place: nothing to do
    fake = FakeHost(Sha1File=sha1("[global]\nrepo1-cipher-pass=" + "p" * 64 + "\n"))
    assert cipher_commands(fake, standby=False) == []


@pytest.mark.parametrize(("keep_mb", "line"), [(10240, "'10240MB'"), (0, "-1")])
def test_replication_slots_hold_back_bounded_wal(keep_mb: int, line: str) -> None:
    conf = render(
        "postgresql-hardening.conf.j2",
        listen_addresses=["localhost"],
        log_min_duration_ms=1,
        max_connections=1,
        statement_timeout_ms=1,
        idle_in_transaction_timeout_ms=1,
        work_mem_mb=1,
        shared_buffers_mb=1,
        max_slot_wal_keep_size_mb=keep_mb,
    )
    assert f"max_slot_wal_keep_size = {line}\n" in conf
    assert default("postgres_max_slot_wal_keep_size_mb") == 10240
