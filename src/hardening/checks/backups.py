"""Backup checks: DB-01, DB-02, PRE-02, POST-06, OPS-D-04, OPS-M-04, DR-BAK-01, DR-BAK-04,
DR-RPO-01, DR-RTO-01 (pgBackRest, WAL archiving, restore drills)."""

from __future__ import annotations

import time
from functools import partial

from hardening.checks import HostContext, check
from hardening.facts.pgbackrest import (
    BackupTimers,
    PgArchiver,
    PgbackrestConfig,
    PgbackrestInfo,
    RestoreDrillResult,
)
from hardening.results import Outcome
from hardening.settings import default

FIX = "set backup_s3_endpoint (and the S3 key) in inventory and run deploys/backups.py"
DRILL_FIX = "run deploys/restore_drill.py (the monthly timer hardening-restore-drill runs it)"
STANZA = "main"


def _setting(ctx: HostContext, key: str):
    return ctx.setting(key, default(key))


def _age(now: float, then: float | None) -> str:
    if then is None:
        return "never"
    hours = (now - then) / 3600
    return f"{hours:.1f} h ago" if hours < 48 else f"{hours / 24:.1f} days ago"


def _good_backups(ctx: HostContext) -> tuple[dict, list[dict]]:
    info = ctx.fact(PgbackrestInfo, stanza=STANZA)
    return info, [b for b in info["backups"] if not b.get("error") and b.get("stop")]


def primary_of_standby(ctx: HostContext) -> str:
    """The primary's name when this host is a streaming standby (db_replica only), else ''.

    Backups of a cluster are taken on its primary; a standby shares the repository.
    """
    if not ctx.in_group("db_replica") or ctx.in_group("db_primary"):
        return ""
    return ctx.fact(PgbackrestConfig).get("primary") or "the primary"


def _taken_on(primary: str) -> list[str]:
    return [f"backups of this cluster are taken on the primary {primary}"] if primary else []


#: fail with the problems first, else pass; evidence either way (``Outcome.judge``)
_verdict = partial(Outcome.judge, fix=FIX)


def repository_url(options: dict) -> str:
    """``https://endpoint:port/bucket`` of the configured S3 repository (pgBackRest options)."""
    endpoint = options.get("repo1-s3-endpoint", "")
    if not endpoint:
        return "the configured repository"
    port = options.get("repo1-storage-port", "443")
    return f"https://{endpoint}:{port}/{options.get('repo1-s3-bucket', '')}"


def _repository_problem(ctx: HostContext, info: dict) -> str:
    """One line on what is wrong with the repository or the stanza (with the fix), or ''."""
    if not info["installed"]:
        return "pgBackRest is not installed"
    url = repository_url(ctx.fact(PgbackrestConfig)["options"].get("global", {}))
    if info["error"]:
        return (
            f"repository {url} is not usable from this host: {info['error']} (check the network,"
            " firewall and certificate to it and the backup_s3_* settings)"
        )
    local, stanza = info.get("local_system_id", ""), info.get("system_id", "")
    if info["status_code"] in (0, 2) and local and stanza and local != stanza:
        return (
            f"stanza {STANZA} in {url} belongs to another cluster (system-id {stanza}, this"
            f" cluster {local}): point backup_repo_path at this cluster's own path"
        )
    if info["status_code"] not in (0, 2):
        return f"stanza {STANZA}: {info['status'] or 'missing'}"
    return ""


@check("postgres.backup_schedule")
def backup_schedule(ctx: HostContext) -> Outcome:
    """DB-01: full and differential backup timers are enabled and a backup exists.

    On a standby the timers belong to the primary: the repository's backups are judged.
    """
    info, good = _good_backups(ctx)
    primary = primary_of_standby(ctx)
    timers = ctx.fact(BackupTimers)
    problems = [p for p in [_repository_problem(ctx, info)] if p]
    evidence = _taken_on(primary)
    for name in () if primary else ("hardening-backup-full", "hardening-backup-diff"):
        timer = timers.get(name)
        if not timer or not (timer["enabled"] and timer["active"]):
            problems.append(f"{name}.timer is not installed, enabled and active")
        else:
            evidence.append(f"{name}.timer: {timer['calendar'] or 'scheduled'}")
    if not good:
        problems.append(f"no backup of stanza {STANZA} in the repository")
    else:
        evidence.append(f"{len(good)} backup(s), newest {good[-1]['label']}")
    return _verdict(problems, evidence)


@check("postgres.backup_recent")
def backup_recent(ctx: HostContext) -> Outcome:
    """POST-06, OPS-D-04: newest good backup is recent and WAL archiving has not failed since."""
    now = time.time()
    info, good = _good_backups(ctx)
    problem = _repository_problem(ctx, info)
    if problem or not good:
        return Outcome.failed(problem or f"no backup of stanza {STANZA}", fix=FIX)
    newest = good[-1]
    limit = _setting(ctx, "backup_max_age_hours")
    evidence = [
        f"newest backup {newest['label']} ({newest['type']}) finished {_age(now, newest['stop'])}"
    ]
    problems = [f"older than {limit} h"] if now - newest["stop"] > limit * 3600 else []
    primary = primary_of_standby(ctx)
    if primary:  # archiving is the primary's job: what the repository holds is judged here
        archived = f"WAL archived up to {info['archive_max']}" if info["archive_max"] else ""
        return _verdict(problems, evidence + _taken_on(primary) + [a for a in [archived] if a])
    archiver = ctx.fact(PgArchiver)
    evidence += [
        f"archive_mode={archiver['archive_mode'] or 'unknown'}",
        f"archiving failures={archiver['failed_count']}",
    ]
    if archiver["archive_mode"] != "on":
        problems.append("WAL archiving is off")
    failed = archiver["last_failed_time"]
    if failed and failed > newest["stop"] and failed >= (archiver["last_archived_time"] or 0):
        problems.append(f"WAL archiving failed {_age(now, failed)}, after the newest backup")
    return _verdict(problems, evidence)


@check("postgres.backup_retention")
def backup_retention(ctx: HostContext) -> Outcome:
    """DR-BAK-01: retention keeps >= 7 days with weekly fulls, repository encrypted."""
    now = time.time()
    options = ctx.fact(PgbackrestConfig)["options"].get("global", {})
    info, good = _good_backups(ctx)
    timers = ctx.fact(BackupTimers)
    problems = [p for p in [_repository_problem(ctx, info)] if p]
    retention = options.get("repo1-retention-full", "")
    window = (int(retention) - 1) * 7 if retention.isdigit() else 0
    evidence = [
        f"repo1-retention-full={retention or 'unset'} with weekly fulls: "
        f">= {window} days always restorable ((N-1) x 7)"
    ]
    if window < 7:
        problems.append("retention keeps fewer than 7 days (need repo1-retention-full >= 2)")
    primary = primary_of_standby(ctx)
    evidence += _taken_on(primary)
    if not primary and not {"hardening-backup-diff", "hardening-backup-full"} <= set(timers):
        problems.append("no weekly full / daily differential timers")
    cipher = info["cipher"] or options.get("repo1-cipher-type", "none")
    if cipher == "none" or options.get("repo1-cipher-pass") != "set":
        problems.append("repository is not encrypted")
    evidence.append(f"cipher={cipher}")
    if good:
        days = (now - good[0]["start"]) / 86400
        covered = "covers" if days >= 7 else "so far covers"
        evidence.append(f"repository {covered} {days:.1f} days ({len(good)} backups)")
        if days < 7 and window >= 7:
            evidence.append("retention keeps >= 7 days going forward")
    else:
        problems.append("no backup in the repository yet")
    return _verdict(problems, evidence)


@check("postgres.restore_drill")
def restore_drill(ctx: HostContext) -> Outcome:
    """DB-02, DR-BAK-04, OPS-M-04: a restore drill succeeded in the last 31 days."""
    now = time.time()
    result = ctx.fact(RestoreDrillResult)
    limit = _setting(ctx, "backup_drill_max_age_days")
    if not result.get("exists"):
        return Outcome.failed("no restore drill has run on this host", fix=DRILL_FIX)
    success = result.get("last_success")
    evidence = [f"last successful drill {_age(now, success)}"]
    if result.get("ok"):
        tables = ", ".join(f"{k}={v} rows" for k, v in result.get("tables", {}).items())
        evidence.append(
            f"backup {result.get('backup_label')} restored and verified"
            f" (pg_amcheck {result.get('amcheck')}{'; ' + tables if tables else ''})"
        )
    else:
        evidence.append(f"last drill failed: {result.get('error', 'unknown error')}")
    if not success or now - success > limit * 86400:
        return Outcome.failed(
            f"no successful drill in {limit} days; " + "; ".join(evidence), fix=DRILL_FIX
        )
    return Outcome.passed("; ".join(evidence))


@check("dr.rto_critical")
def rto_critical(ctx: HostContext) -> Outcome:
    """DR-RTO-01: the restore drill's measured time to a verified database is within target."""
    result = ctx.fact(RestoreDrillResult)
    target = _setting(ctx, "rto_target_seconds")
    if not result.get("exists") or not result.get("last_success"):
        return Outcome.failed("RTO never measured: no successful restore drill", fix=DRILL_FIX)
    rto = result.get("rto_seconds") if result.get("ok") else None
    if rto is None:
        return Outcome.failed(f"last drill failed: {result.get('error')}", fix=DRILL_FIX)
    evidence = f"measured RTO {rto:.0f} s (restore + start + verify), target {target} s"
    if rto > target:
        return Outcome.failed(evidence, fix="faster restores: process-max, a closer repository")
    return Outcome.passed(evidence)


@check("dr.rpo_database")
def rpo_database(ctx: HostContext) -> Outcome:
    """DR-RPO-01: WAL is archived continuously with archive_timeout within the RPO target.

    Not applicable on a standby: it archives nothing (archive_mode does nothing there), the
    primary's archiving bounds the cluster's data loss and is judged on the primary.
    """
    primary = primary_of_standby(ctx)
    if primary:
        return Outcome.not_applicable(
            f"streaming standby: WAL archiving is the job of the primary {primary} and is"
            " judged there"
        )
    archiver = ctx.fact(PgArchiver)
    target = _setting(ctx, "rpo_target_seconds")
    timeout = archiver["archive_timeout"]
    evidence = [
        f"archive_mode={archiver['archive_mode'] or 'unknown'}",
        f"archive_timeout={timeout} s (target {target} s)",
        f"archived={archiver['archived_count']}, failed={archiver['failed_count']}",
    ]
    problems = []
    if archiver["archive_mode"] != "on" or "pgbackrest" not in archiver["archive_command"]:
        problems.append("WAL is not archived to pgBackRest")
    if not 0 < timeout <= target:
        problems.append("archive_timeout does not bound the data-loss window")
    failed, archived = archiver["last_failed_time"], archiver["last_archived_time"]
    if failed and failed >= (archived or 0):
        problems.append("the last WAL archiving attempt failed")
    drill = ctx.fact(RestoreDrillResult)
    if drill.get("ok"):
        evidence.append(
            f"drill: restored data was {drill['rpo_seconds']:.0f} s old "
            f"({drill.get('rpo_source')}; on an idle database that is no loss)"
        )
    return _verdict(problems, evidence)


@check("deployday.preflight_backup")
def preflight_backup(ctx: HostContext) -> Outcome:
    """PRE-02: a full backup younger than preflight_backup_max_age_hours exists."""
    now = time.time()
    info, good = _good_backups(ctx)
    limit = _setting(ctx, "preflight_backup_max_age_hours")
    fix = "run deploys/preflight_backup.py before the deployment"
    problem = _repository_problem(ctx, info)
    fulls = [b for b in good if b["type"] == "full"]
    if problem or not fulls:
        return Outcome.failed(problem or "no full backup in the repository", fix=fix)
    newest = fulls[-1]
    evidence = "; ".join(
        [f"newest full backup {newest['label']} finished {_age(now, newest['stop'])}"]
        + _taken_on(primary_of_standby(ctx))
    )
    if now - newest["stop"] > limit * 3600:
        return Outcome.failed(f"{evidence}: older than {limit} h", fix=fix)
    return Outcome.passed(evidence)
