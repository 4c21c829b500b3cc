"""Backup facts parsed from captured output, backup checks judged on canned facts."""

from __future__ import annotations

import json
import time
from typing import Any

from hardening.checks import HostContext, registry
from hardening.facts.pgbackrest import (
    BackupTimers,
    PgArchiver,
    PgbackrestConfig,
    PgbackrestInfo,
    RestoreDrillResult,
)
from hardening.operations.restore_drill import drill_settings
from hardening.results import Status

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


def context(facts: dict[type, Any], **data: Any) -> HostContext:
    def getter(fact_class: type, **kwargs: Any) -> Any:
        return facts.get(fact_class, fact_class.default())

    return HostContext("db1", ("db_primary",), data, getter)


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
