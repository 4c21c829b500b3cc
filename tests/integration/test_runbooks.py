"""Runbooks, compliance documents and DR objectives end to end: fresh hosts fail, the
runbooks deploy makes them pass (a rerun changes nothing), changes on the host make the
access matrix stale, the restart runbook measures DR-RTO-02, the DR drill is pending until
it runs, diagnostics and incident response do what the runbooks say."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes, statuses

DOCS = ("DR-RUN-01", "DR-RUN-02", "DR-RUN-03", "DR-RUN-04", "DR-RUN-05")
DOCS += ("DOC-02", "DOC-03", "DOC-05", "DOC-06", "DOC-08")
ROOT = "/usr/local/share/hardening"

FAKE_APP = r"""
mkdir -p /srv/fakeapp && echo '{"status":"ok","db":"ok"}' > /srv/fakeapp/healthz
cat > /etc/systemd/system/hardening-demo-app.service <<'UNIT'
[Unit]
Description=stand-in for the demo app (serves /healthz)
[Service]
ExecStart=/usr/bin/python3 -m http.server 8000 --bind 127.0.0.1 --directory /srv/fakeapp
UNIT
systemctl daemon-reload && systemctl start hardening-demo-app
"""


@pytest.fixture(scope="module")
def bed(module_bed):
    module_bed.run("tb1", FAKE_APP)
    return module_bed


def _deploy(bed, script: str, *args: str):
    done = bed.pyinfra(script, *args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_fresh_hosts_fail(bed, tmp_path: Path) -> None:
    _, report = audit_json(bed, tmp_path)
    found = statuses(report)
    for host in ("tb1", "tb2"):
        for item in (*DOCS, "OPS-M-03", "STAB-07"):
            assert found[(host, item)] == "fail", (host, item, evidence(report, host, item))
    assert "missing: runbooks/database-failover.md" in evidence(report, "tb1", "DR-RUN-01")
    assert found[("tb1", "DR-RTO-02")] == "fail"
    assert found[("tb2", "DR-RTO-02")] == "not_applicable"


def test_deploy_makes_them_pass_and_rerun_changes_nothing(bed, tmp_path: Path) -> None:
    first = _deploy(bed, "deploys/runbooks.py")
    again = _deploy(bed, "deploys/runbooks.py")
    assert pyinfra_changes(again) == 0, again.stdout[-3000:]
    restart = _deploy(bed, "deploys/restart_app.py")
    _, report = audit_json(bed, tmp_path)
    found = statuses(report)
    for host in ("tb1", "tb2"):
        for item in DOCS:
            assert found[(host, item)] == "pass", (host, item, evidence(report, host, item))
        for item in ("OPS-M-03", "STAB-07"):
            assert found[(host, item)] == "pending", evidence(report, host, item)
    assert found[("tb1", "DR-RTO-02")] == "pass", evidence(report, "tb1", "DR-RTO-02")
    assert "application restart measured" in evidence(report, "tb1", "DR-RTO-02")
    runbook = bed.run("tb2", f"cat {ROOT}/runbooks/database-failover.md")
    assert "promotes `tb2`" in runbook and "deploys/failover.py" in runbook
    matrix = bed.run("tb1", f"cat {ROOT}/docs/access-matrix.md")
    assert "| root | 0 |" in matrix and "| postgres |" in matrix
    assert "flowchart" in bed.run("tb1", f"cat {ROOT}/docs/architecture.mmd")
    outputs = first.stdout + again.stdout + restart.stdout + matrix
    for secret_shape in ("SCRAM-SHA-256$", "$y$", "$6$", "PRIVATE KEY"):
        assert secret_shape not in outputs


def test_host_changes_make_documents_stale_and_drill_records(bed, tmp_path: Path) -> None:
    bed.run("tb2", "useradd -m -s /bin/bash incident-test")
    bed.ssh("tb1", "systemctl start hardening-dr-drill.service")  # no restore drill: fails
    _, report = audit_json(bed, tmp_path)
    found = statuses(report)
    assert found[("tb2", "DOC-06")] == "fail"
    assert "stale" in evidence(report, "tb2", "DOC-06")
    assert found[("tb1", "DOC-06")] == "pass"
    assert found[("tb1", "OPS-M-03")] == "fail"
    assert "restore drill not installed" in evidence(report, "tb1", "OPS-M-03")
    assert "app_restart ok" in evidence(report, "tb1", "OPS-M-03")


SAME_RUN_DEPLOY = """
from pyinfra.operations import server

from hardening.deploys.runbooks import runbooks

server.user(name="A user added earlier in the run", user="same-run", shell="/bin/bash")
runbooks()
"""


def test_documents_show_changes_made_earlier_in_the_same_run(bed, tmp_path: Path) -> None:
    """As in harden(): the access matrix is generated when it executes, not when planned."""
    script = tmp_path / "same_run.py"
    script.write_text(SAME_RUN_DEPLOY)
    _deploy(bed, str(script), "--limit", "tb2")
    assert "| same-run |" in bed.run("tb2", f"cat {ROOT}/docs/access-matrix.md")
    _, report = audit_json(bed, tmp_path, "--limit", "tb2")
    assert statuses(report)[("tb2", "DOC-06")] == "pass", evidence(report, "tb2", "DOC-06")


def test_diagnostics_and_incident_response(bed) -> None:
    _deploy(bed, "deploys/diagnostics.py")
    listing = bed.run("tb1", "ls /var/lib/hardening/diagnostics/*/")
    for name in ("load.txt", "top-processes.txt", "pg_stat_activity.txt", "nginx.txt"):
        assert name in listing
    _deploy(bed, "deploys/incident.py", "--limit", "tb2")
    assert bed.run("tb2", "stat -c %a /var/lib/hardening/incident/evidence-*.tar.gz") == "600\n"
    ruleset = bed.run("tb2", "nft list ruleset")
    assert bed.hosts[1].gateway in ruleset and "5432" not in ruleset
    assert bed.ssh("tb2", "true").returncode == 0  # the operator keeps SSH
