"""Scheduled security jobs (OPS-W-01, OPS-W-02, OPS-W-03, OPS-M-01): one script,
``/usr/local/lib/hardening/security-jobs.py``, run by a oneshot service and timer per job
(the ``postgres.timer`` operation); each job writes a JSON report its check reads back."""

from __future__ import annotations

import re
from io import StringIO

from pyinfra import host
from pyinfra.api import OperationError, StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.operations import files

from hardening.facts.security import JobReport
from hardening.operations._render import render
from hardening.operations.postgres import timer
from hardening.security_policy import JOBS, JOBS_SCRIPT, Job


@operation()
def jobs_script():
    """
    Install ``security-jobs.py``, the script every security timer runs.

    **Example:**

    .. code:: python

        security_timers.jobs_script(name="Security jobs script")
    """
    yield from files.directory._inner(path=JOBS_SCRIPT.rsplit("/", 1)[0])
    yield from files.put._inner(
        src=StringIO(render("security-jobs.py.j2")), dest=JOBS_SCRIPT, mode="0755"
    )


def _job(job: Job, *args: str, run_now: bool = True):
    """The job's service and timer; with ``run_now``, one run while it has no report yet
    (a failing first run is reported by the job's check, it does not stop the deploy)."""
    command = " ".join(["/usr/bin/python3", JOBS_SCRIPT, job.command, *args])
    yield from timer._inner(
        unit=job.unit,
        description=job.description,
        exec_start=command,
        user="root",
        on_calendar=job.on_calendar,
    )
    if run_now and not host.get_fact(JobReport, path=job.report)["present"]:
        yield StringCommand(
            "systemctl start",
            f"{job.unit}.service",
            "|| echo",
            QuoteString(f"{job.unit}: first run failed, see journalctl -u {job.unit}"),
            ">&2",
        )


@operation()
def log_review_timer(run_now: bool = True):
    """
    OPS-W-01: weekly summary of SSH auth failures, sudo use and firewall drops into
    ``/var/lib/hardening/security-review/<date>.json``.

    **Example:**

    .. code:: python

        security_timers.log_review_timer(name="Weekly security log review")
    """
    yield from _job(JOBS["log_review"], run_now=run_now)


@operation()
def update_check_timer(run_now: bool = True):
    """
    OPS-W-02: weekly list of pending updates from the security suite
    (``apt list --upgradable``) into ``/var/lib/hardening/updates/last.json``.

    **Example:**

    .. code:: python

        security_timers.update_check_timer(name="Weekly security update check")
    """
    yield from _job(JOBS["updates"], run_now=run_now)


@operation()
def audit_timer(timeout: int = 900, run_now: bool = True):
    """
    OPS-M-01: monthly ``lynis audit system --quick`` (stopped after ``timeout`` seconds);
    hardening index and warnings into ``/var/lib/hardening/lynis/last.json``.

    **Example:**

    .. code:: python

        security_timers.audit_timer(name="Monthly Lynis audit", timeout=900)
    """
    yield from _job(JOBS["audit"], str(int(timeout)), run_now=run_now)


@operation()
def perf_report_timer(prometheus_url: str = "http://127.0.0.1:9090", run_now: bool = True):
    """
    OPS-W-03: weekly p95 latency, CPU and memory (this week and the previous one) from the
    local Prometheus into ``/var/lib/hardening/perf/weekly-<date>.json``.

    **Example:**

    .. code:: python

        security_timers.perf_report_timer(name="Weekly performance report")
    """
    if not re.fullmatch(r"https?://[A-Za-z0-9._:\[\]/-]+", prometheus_url):
        raise OperationError(
            f"perf_report_prometheus_url is not a plain http(s) URL: {prometheus_url!r}"
        )
    yield from _job(JOBS["perf"], prometheus_url, run_now=run_now)
