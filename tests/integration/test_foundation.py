"""The foundation end to end on real hosts: fresh hosts fail, the audit changes nothing,
harden makes the first checks pass, a second harden changes nothing, secrets never leak,
and a firewall change that cuts SSH rolls itself back."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from hardening.facts.redis import admin_password_shell
from hardening.reports.json_report import load_schema
from tests.integration.harden_helpers import (
    audit_json,
    evidence,
    pyinfra_changes,
    snapshot,
    statuses,
)

FIRST_CHECKS = ("SEC-01", "SEC-04", "DB-04")


@pytest.fixture(scope="module")
def bed(module_bed):
    # A publicly known password on the postgres role: SEC-01 must catch it.
    module_bed.run(
        "tb1", "runuser -u postgres -- psql -XAtqc \"ALTER ROLE postgres PASSWORD 'postgres'\""
    )
    return module_bed


def test_fresh_hosts_fail_and_every_format_is_valid(bed, tmp_path: Path) -> None:
    junit, html = tmp_path / "r.xml", tmp_path / "r.html"
    done, report = audit_json(bed, tmp_path, "--junit", str(junit), "--html", str(html))
    assert done.returncode == 1, done.stderr  # critical items fail
    found = statuses(report)
    for host in ("tb1", "tb2"):
        for item in FIRST_CHECKS:
            assert found[(host, item)] == "fail", (host, item, evidence(report, host, item))
        assert len([key for key in found if key[0] == host]) == 150
    assert "postgres/postgres" in evidence(report, "tb1", "SEC-01")
    assert "Redis answers without AUTH" in evidence(report, "tb1", "SEC-01")
    assert "no default-deny" in evidence(report, "tb1", "SEC-04")
    assert "no [databases]" in evidence(report, "tb1", "DB-04")
    # SEC-03: nginx answers plain HTTP on port 80 of a fresh host
    assert found[("tb1", "SEC-03")] == "fail" and "plaintext: 80" in evidence(
        report, "tb1", "SEC-03"
    )
    jsonschema.validate(report, load_schema())
    suites = ET.parse(junit).getroot()
    assert int(suites.get("tests")) == 300 and int(suites.get("failures")) >= 6
    page = html.read_text()
    assert "tb1" in page and "tb2" in page and "<script src" not in page
    # every item has a real check now; `unchecked` stays a status the report can show
    assert report["summary"]["counts"]["unchecked"] == 0


def test_batched_and_single_fact_gathering_agree(bed, tmp_path: Path) -> None:
    _, batched = audit_json(bed, tmp_path)
    single = bed.hardening("audit", bed.inventory, "--no-batch", "--format", "json")
    trips = [
        int(line.split(" in ")[1].split()[0])
        for line in bed.hardening("audit", bed.inventory).stderr.splitlines()
        if " round trip(s)" in line
    ]
    assert trips and all(count <= 3 for count in trips), trips  # issue 11: <= 10 per host
    assert statuses(json.loads(single.stdout)) == statuses(batched)


def test_audit_and_dry_run_change_nothing(bed, tmp_path: Path) -> None:
    before = {host: snapshot(bed, host) for host in ("tb1", "tb2")}
    audit_json(bed, tmp_path)
    dry = bed.pyinfra("deploys/harden.py", "--dry")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    after = {host: snapshot(bed, host) for host in ("tb1", "tb2")}
    assert after == before


def test_harden_makes_the_checks_pass_and_a_rerun_changes_nothing(bed, tmp_path: Path) -> None:
    first = bed.pyinfra("deploys/harden.py")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert pyinfra_changes(first) > 0
    _, report = audit_json(bed, tmp_path)
    found = statuses(report)
    for host in ("tb1", "tb2"):
        for item in FIRST_CHECKS:
            assert found[(host, item)] == "pass", (host, item, evidence(report, host, item))
    # other components' items may still fail here: this module hardens only its own
    second = bed.pyinfra("deploys/harden.py", "-v")
    assert second.returncode == 0, second.stdout[-3000:]
    assert pyinfra_changes(second) == 0, second.stderr[-3000:]


def test_secrets_never_leak(bed, tmp_path: Path) -> None:
    secret = bed.run("tb1", admin_password_shell()).strip()  # Redis admin user
    assert len(secret) == 40
    assert bed.run("tb1", "stat -c %a:%U /etc/redis/hardening-auth.conf").strip() == "640:redis"
    outputs = [bed.pyinfra("deploys/harden.py", "-vvv", "--diff")]
    outputs.append(bed.hardening("audit", bed.inventory, "-v"))
    for fmt in ("json", "junit", "html"):
        outputs.append(bed.hardening("audit", bed.inventory, "--format", fmt))
    for done in outputs:
        assert secret not in done.stdout and secret not in done.stderr
    journal = bed.run(
        "tb1", "journalctl --no-pager -o cat; cat /root/.bash_history 2>/dev/null; true"
    )
    assert secret not in journal


def test_firewall_that_cuts_ssh_rolls_back_by_itself(bed, tmp_path: Path) -> None:
    deploy = tmp_path / "cut_ssh.py"
    deploy.write_text(
        "from hardening.operations import firewall\n"
        "# Claims SSH is on 2222: the ruleset opens only 2222, so port 22 is cut.\n"
        "firewall.ruleset(name='ruleset that cuts SSH', ports={(2222, 'tcp')}, ssh_port=2222,\n"
        "                 rollback_seconds=5)\n"
    )
    # the SEC-07 rate-limit sets hold one element per recent source, with a countdown
    rules = "nft list ruleset | grep -v 'elements = '"
    before = bed.run("tb2", rules)
    done = bed.pyinfra(str(deploy), "--limit", "tb2")
    assert done.returncode != 0
    assert "new firewall rules cut SSH" in done.stdout + done.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        probe = bed.ssh("tb2", rules, timeout=10)
        if probe.returncode == 0:
            break
        time.sleep(1)
    assert probe.returncode == 0, "tb2 is not reachable again after the rollback"
    assert probe.stdout == before
    assert "dport 22 accept" in probe.stdout
    restored = json.loads(bed.run("tb2", "nft -j list ruleset"))
    assert restored["nftables"]
