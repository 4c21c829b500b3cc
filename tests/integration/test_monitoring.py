"""Monitoring end to end on real hosts: a fresh monitoring host fails the alerting items,
deploys/monitoring.py makes them pass from what Prometheus has LOADED, a rerun changes
nothing, and a rules file that promtool rejects is never installed."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from hardening.alert_rules import ALERTS
from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes, statuses

#: A webhook token is a secret: it must reach alertmanager.yml (0640) and no output.
TOKEN = secrets.token_hex(16)
WEBHOOK = f"--data=monitoring_webhook_url=http://127.0.0.1:9/hook?token={TOKEN}"
#: Both databases seen by their exporters once the exporter's role exists.
PG_UP = {"tb1": "1", "tb2": "1"}
ITEMS = (*{spec.item for spec in ALERTS} - {"OPS-D-01"}, "INF-05", "OPS-D-01", "OPS-D-05", "PRE-06")


#: Prometheus' API over TLS (deploys/monitoring.py puts it behind the internal CA).
API = "curl -fsS --cacert /usr/local/share/ca-certificates/hardening-ca.crt https://127.0.0.1:9090"


@pytest.fixture(scope="module")
def bed(module_bed, tmp_path_factory: pytest.TempPathFactory):
    module_bed.env["HARDENING_PKI_DIR"] = str(tmp_path_factory.mktemp("pki"))
    return module_bed


def _loaded_rules(bed) -> list[dict]:
    answer = json.loads(bed.run("tb1", f"{API}/api/v1/rules"))
    return [rule for group in answer["data"]["groups"] for rule in group["rules"]]


def _values(bed, promql: str) -> dict[str, str]:
    """``{host label: value}`` of an instant query on tb1's Prometheus."""
    answer = json.loads(bed.run("tb1", f"{API}'/api/v1/query?query={quote(promql)}'"))
    return {r["metric"].get("host", ""): r["value"][1] for r in answer["data"]["result"]}


def test_fresh_monitoring_host_fails(bed, tmp_path: Path) -> None:
    _, report = audit_json(bed, tmp_path, "--limit", "tb1")
    found = statuses(report)
    for item in ITEMS:
        assert found[("tb1", item)] == "fail", (item, evidence(report, "tb1", item))
    assert "no rule for" in evidence(report, "tb1", "INF-05")


def test_deploy_makes_items_pass_and_rerun_changes_nothing(bed, tmp_path: Path) -> None:
    first = bed.pyinfra("deploys/monitoring.py", WEBHOOK, "-vvv", "--diff")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert pyinfra_changes(first) > 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # node targets are scraped within a scrape interval
        _, report = audit_json(bed, tmp_path, "--limit", "tb1")
        found = statuses(report)
        passing = all(found[("tb1", item)] == "pass" for item in ITEMS)
        if passing and _values(bed, "pg_up") == PG_UP:
            break
        time.sleep(3)
    for item in ITEMS:
        assert found[("tb1", item)] == "pass", (item, evidence(report, "tb1", item))
    assert "severity critical" in evidence(report, "tb1", "MON-CRIT-04")
    assert "for 600s" in evidence(report, "tb1", "MON-CRIT-04")
    # the app is not deployed here: its rules keep their verdict, saying data is not expected
    assert "data not expected (no app target is up" in evidence(report, "tb1", "MON-CRIT-01")
    # the exporters are scraped: the series their rules read exist
    for item in ("MON-CRIT-02", "MON-WARN-03", "MON-WARN-04", "MON-CRIT-03"):
        assert "data not expected" not in evidence(report, "tb1", item), item
    assert ("tb2", "INF-05") not in found or found[("tb2", "INF-05")] == "not_applicable"
    deadline = time.monotonic() + 60
    while True:  # a target is "unknown" until its first scrape (one scrape interval)
        targets = json.loads(bed.run("tb1", f"{API}/api/v1/targets"))
        local = {
            t["labels"]["job"]: t["health"]
            for t in targets["data"]["activeTargets"]
            if t["labels"]["host"] == "tb1"
        }
        if "unknown" not in (local.get("prometheus"), local.get("node")):
            break
        assert time.monotonic() < deadline, local
        time.sleep(2)
    assert local["prometheus"] == "up" and local["node"] == "up", local
    # the exporter's role exists, so MON-CRIT-02 does not fire on a healthy database
    assert _values(bed, "pg_up") == PG_UP
    second = bed.pyinfra("deploys/monitoring.py", WEBHOOK)
    assert second.returncode == 0, second.stdout[-3000:]
    assert pyinfra_changes(second) == 0, second.stdout[-3000:] + second.stderr[-3000:]
    config = "/etc/prometheus/alertmanager.yml"
    assert TOKEN in bed.run("tb1", f"cat {config}")
    assert bed.run("tb1", f"stat -c %a:%U:%G {config}").strip() == "640:root:prometheus"
    audit = bed.hardening("audit", bed.inventory, "--limit", "tb1", "-v")
    for done in (first, second, audit):
        assert TOKEN not in done.stdout + done.stderr


def test_rules_that_promtool_rejects_are_not_installed(bed, tmp_path: Path) -> None:
    before = bed.run("tb1", "sha1sum /etc/prometheus/rules/hardening.rules.yml")
    loaded = len(_loaded_rules(bed))
    deploy = tmp_path / "broken_rules.py"
    deploy.write_text(
        "from hardening.operations import monitoring\n"
        "monitoring.alert_rules(name='broken rules', content=(\n"
        "    'groups:\\n  - name: broken\\n    rules:\\n'\n"
        "    '      - alert: Broken\\n        expr: rate(up[5m] >\\n'))\n"
    )
    done = bed.pyinfra(str(deploy), "--limit", "tb1")
    assert done.returncode != 0
    assert "alert rules rejected" in done.stdout + done.stderr
    assert bed.run("tb1", "sha1sum /etc/prometheus/rules/hardening.rules.yml") == before
    staged = bed.ssh("tb1", "test -e /etc/prometheus/rules/.hardening-staging/hardening.rules.yml")
    assert staged.returncode != 0
    assert len(_loaded_rules(bed)) == loaded == len(ALERTS)
