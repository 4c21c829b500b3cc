"""MON-INFO-01/02's data: the backup job's and the deploy-day tool's textfile-collector
writers (exposition text checked by ``promtool check metrics``), the backup unit that runs
the writer, and the alert checks expecting the series where their producers are declared."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from pyinfra.context import ctx_host

from hardening.catalog import CATALOG
from hardening.operations._render import render
from hardening.operations.backups import METRICS_WRITER, metrics_writer_text, seed_metrics
from hardening.operations.deployday import TEMPLATES
from hardening.results import Status
from tests.unit.test_monitoring import CHECKS, context
from tests.unit.test_monitoring_data import judge, series, targets
from tests.unit.test_monitoring_operations import FakeHost

SUCCESS = 'backup_last_success_timestamp_seconds{stanza="main"}'
EXIT = 'backup_last_exit_code{stanza="main"}'


def promtool_accepts(text: str) -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed")
    done = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def samples(text: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def run_writer(directory: Path, *args: str, **env: str) -> str:
    script = directory.parent / "writer.sh"
    script.write_text(metrics_writer_text())
    subprocess.run(
        ["sh", str(script), *args],
        env={**os.environ, "HARDENING_TEXTFILE_DIR": str(directory), **env},
        check=True,
    )
    path = directory / "backup.prom"
    return path.read_text() if path.exists() else ""


def test_backup_writer_records_runs_and_keeps_the_last_success(tmp_path: Path) -> None:
    directory = tmp_path / "textfile"
    directory.mkdir()
    good = run_writer(directory, "main", "42", EXIT_STATUS="0", BACKUP_FINISHED_AT="1700000000")
    promtool_accepts(good)
    assert samples(good) == {
        EXIT: 0,
        'backup_last_run_timestamp_seconds{stanza="main"}': 1700000000,
        SUCCESS: 1700000000,
        'backup_last_duration_seconds{stanza="main"}': 42,
    }
    failed = samples(run_writer(directory, "main", EXIT_STATUS="SEGV"))
    assert failed[EXIT] == 1 and failed[SUCCESS] == 1700000000
    assert samples(run_writer(directory, "main", EXIT_STATUS="32"))[EXIT] == 32
    assert sorted(os.listdir(directory)) == ["backup.prom"]  # the temporary file was renamed


def test_backup_writer_without_success_has_no_success_series(tmp_path: Path) -> None:
    directory = tmp_path / "textfile"
    directory.mkdir()
    text = run_writer(directory, "main", EXIT_STATUS="1")
    promtool_accepts(text)
    assert SUCCESS not in samples(text) and samples(text)[EXIT] == 1
    # no node exporter (no textfile directory): nothing written, no error
    assert run_writer(tmp_path / "absent", "main", EXIT_STATUS="0") == ""


def test_backup_unit_records_every_run_as_root() -> None:
    unit = render("hardening-backup@.service.j2", stanza="main", metrics_writer=METRICS_WRITER)
    assert f"ExecStopPost=+{METRICS_WRITER} main" in unit
    assert "User=postgres" in unit


def seeded(**facts: object) -> list[str]:
    with ctx_host.use(FakeHost(**facts)):
        return list(seed_metrics("main"))


def test_backups_older_than_the_writer_are_recorded_once() -> None:
    info = {"backups": [{"stop": 1700000000}, {"stop": 1700086400}]}
    assert seeded(Directory={"mode": 755}, File=None, PgbackrestInfo=info) == [
        f"EXIT_STATUS=0 BACKUP_FINISHED_AT=1700086400 {METRICS_WRITER} main"
    ]
    assert seeded(Directory={"mode": 755}, File={"size": 9}, PgbackrestInfo=info) == []
    assert seeded(Directory={"mode": 755}, File=None, PgbackrestInfo={"backups": []}) == []
    assert seeded(Directory=None, File=None, PgbackrestInfo=info) == []  # no node exporter


def load_tool():
    spec = importlib.util.spec_from_file_location(
        "deployday_tool", TEMPLATES / "hardening-deployday.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_deployday_writes_deployment_metrics_atomically(tmp_path: Path) -> None:
    tool = load_tool()
    tool.write_deployment_metrics("app", 'v2"x', directory=str(tmp_path))
    text = (tmp_path / "deployment.prom").read_text()
    promtool_accepts(text)
    found = samples(text)
    assert found['deployment_info{service="app",version="v2\\"x"}'] == 1
    # one series per service whatever the version: a new release changes its value
    assert found['deployment_timestamp_seconds{service="app"}'] > 1.7e9
    assert sorted(os.listdir(tmp_path)) == ["deployment.prom"]
    tool.write_deployment_metrics("app", "v3", directory=str(tmp_path / "absent"))
    assert not (tmp_path / "absent").exists()


def judge_with_backups(item: str, **facts) -> tuple[Status, str]:
    """:func:`judge` on a monitoring host whose inventory declares a backup repository."""
    ctx = context(**facts)
    ctx.data["backup_s3_endpoint"] = "10.77.3.1"
    outcome = CHECKS[next(i.check for i in CATALOG if i.id == item)](ctx)
    return outcome.status, outcome.evidence


def test_backup_series_expected_where_backups_are_declared() -> None:
    db = targets(("postgres", "up"))
    missing = series("backup_last_exit_code")
    status, evidence = judge_with_backups(
        "MON-INFO-02", PrometheusTargets=db, PrometheusSeries=missing
    )
    assert status is Status.FAIL
    assert "rule BackupNotCompleted reads backup_last_exit_code: no series" in evidence
    status, evidence = judge_with_backups(
        "MON-INFO-02", PrometheusTargets=db, PrometheusSeries=series()
    )
    assert status is Status.PASS and "data not expected" not in evidence
    # no database scraped, or no repository declared: no backups to expect
    for outcome in (
        judge_with_backups("MON-INFO-02", PrometheusSeries=missing),
        judge("MON-INFO-02", PrometheusTargets=db, PrometheusSeries=missing),
    ):
        assert outcome[0] is Status.PASS
        assert "backup_last_exit_code: data not expected (no backup repository" in outcome[1]


@pytest.mark.parametrize(
    ("item", "metric", "why"),
    [
        ("MON-INFO-01", "deployment_timestamp_seconds", "no release has gone live through"),
        ("MON-INFO-04", "log_messages_total", "deploys/logs.py has not installed"),
    ],
)
def test_series_expected_once_a_producer_wrote_them(item: str, metric: str, why: str) -> None:
    status, evidence = judge(item, PrometheusSeries=series(metric))
    assert status is Status.PASS and f"{metric}: data not expected ({why}" in evidence
    status, evidence = judge(item, PrometheusSeries=series())
    assert status is Status.PASS and "data not expected" not in evidence


FAKE_JOURNALCTL = """#!/bin/sh
# journalctl stand-in: writes a cursor, prints $FAKE_ENTRIES entries after one
for arg; do case "$arg" in --cursor-file=*) cursor=${arg#--cursor-file=} ;; esac; done
if [ -s "$cursor" ]; then seq 1 "$FAKE_ENTRIES"; else echo newest; fi
echo c > "$cursor"
"""


def test_log_volume_counter_counts_new_journal_entries_once(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "journalctl").write_text(FAKE_JOURNALCTL)
    (fake / "journalctl").chmod(0o755)
    directory = tmp_path / "textfile"
    directory.mkdir()
    script = tmp_path / "log-volume.sh"
    script.write_text((TEMPLATES / "hardening-log-volume.sh").read_text())
    env = {
        **os.environ,
        "PATH": f"{fake}:{os.environ['PATH']}",
        "HARDENING_TEXTFILE_DIR": str(directory),
        "HARDENING_LOG_VOLUME_STATE": str(tmp_path / "state"),
    }
    counts = []
    for entries in ("7", "7", "0", "5"):
        subprocess.run(["sh", str(script)], env={**env, "FAKE_ENTRIES": entries}, check=True)
        text = (directory / "log-volume.prom").read_text()
        counts.append(samples(text)['log_messages_total{source="journal"}'])
    promtool_accepts(text)
    assert counts == [0, 7, 7, 12]  # the first run starts at the newest entry
    assert sorted(os.listdir(directory)) == ["log-volume.prom"]
