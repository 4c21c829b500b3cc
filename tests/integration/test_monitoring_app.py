"""Prometheus scrapes the reference app's /metrics and the nginx exporter through nginx
(issue 8): on a fresh host nobody can read the app's metrics over https and Prometheus has no
``app`` job; after deploys/app.py, web.py and monitoring.py the jobs ``app`` and ``nginx`` are
up over https with the internal CA, the series the HTTP/WebSocket/rate-limit alert rules read
exist, the exporter and stub_status listen on loopback only, nginx still refuses /metrics and
/nginx-metrics to an address outside the monitoring hosts (the control node), a rerun changes
nothing and no secret of the app appears in any output."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from hardening.alert_rules import APP_ITEMS, rule_metrics
from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes, statuses

CA = "/usr/local/share/ca-certificates/hardening-ca.crt"
DEPLOYS = ("deploys/app.py", "deploys/web.py", "deploys/monitoring.py")
ENV_FILE = "/etc/hardening-demo-app/env"
#: Web items judged through nginx: the new locations and the stub_status server break none.
WEB_ITEMS = ("SEC-05", "SEC-06", "FE-05", "FE-06", "INF-04")


@pytest.fixture(scope="module")
def bed(module_bed, tmp_path_factory: pytest.TempPathFactory):
    module_bed.env["HARDENING_PKI_DIR"] = str(tmp_path_factory.mktemp("pki"))
    return module_bed


def _api(bed, path: str) -> dict:
    return json.loads(bed.run("tb1", f"curl -fsS --cacert {CA} 'https://127.0.0.1:9090{path}'"))


def _from_control_node(bed, url: str) -> str:
    """HTTP status of ``url`` requested from this machine (not a monitoring host)."""
    ca = Path(bed.env["HARDENING_PKI_DIR"]) / "ca.crt"
    cmd = ["curl", "-s", "-m", "5", "--cacert", str(ca), "-o", "/dev/null", "-w", "%{http_code}"]
    return subprocess.run([*cmd, url], capture_output=True, text=True, check=False).stdout


def test_fresh_host_exposes_no_app_metrics(bed) -> None:
    tb1 = bed.hosts[0]
    direct = bed.ssh("tb1", f"curl -fsS -m 5 https://{tb1.address}/metrics")
    assert direct.returncode != 0, direct.stdout  # nothing on https, no app
    config = bed.run("tb1", "cat /etc/prometheus/prometheus.yml")
    assert "job_name: app" not in config and "job_name: nginx" not in config
    assert bed.ssh("tb1", "test -e /usr/bin/prometheus-nginx-exporter").returncode != 0


def test_prometheus_scrapes_the_app_through_nginx(bed, tmp_path: Path) -> None:
    tb1 = bed.hosts[0]
    first = bed.pyinfra(*DEPLOYS)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert pyinfra_changes(first) > 0
    outputs = [first]

    # the monitoring host (tb1, by its address) reads the metrics; the control node does not
    page = bed.run("tb1", f"curl -fsS --cacert {CA} https://{tb1.address}/metrics")
    assert "http_request_duration_seconds_bucket" in page, page[:500]
    for path in ("/metrics", "/nginx-metrics"):
        assert _from_control_node(bed, f"https://{tb1.address}{path}") == "403", path
    listeners = bed.run("tb1", "ss -Htln 'sport = :9113 or sport = :8081' | awk '{print $4}'")
    assert sorted(listeners.split()) == ["127.0.0.1:8081", "127.0.0.1:9113"], listeners
    for _ in range(5):  # traffic for the request counters
        bed.run("tb1", f"curl -fsS -o /dev/null --cacert {CA} https://{tb1.address}/api/items")

    wanted = {metric for item in APP_ITEMS for metric in rule_metrics(item)}
    names: set[str] = set()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # scraped within a few scrape intervals
        targets = _api(bed, "/api/v1/targets")["data"]["activeTargets"]
        ours = [t for t in targets if t["labels"]["job"] in ("app", "nginx")]
        match = quote('{job="app"}')
        names = set(_api(bed, f"/api/v1/label/__name__/values?match[]={match}")["data"])
        requests = _api(bed, "/api/v1/query?query=" + quote('http_requests_total{job="app"}'))
        nginx_up = _api(bed, "/api/v1/query?query=" + quote('nginx_up{job="nginx"}'))
        up = len(ours) == 2 and all(t["health"] == "up" for t in ours)
        paths = {r["metric"].get("path") for r in requests["data"]["result"]}
        if up and wanted <= names and "/api/items" in paths and nginx_up["data"]["result"]:
            break
        time.sleep(3)
    base = f"https://{tb1.address}:443"
    assert sorted((t["labels"]["job"], t["scrapeUrl"], t["health"]) for t in ours) == [
        ("app", f"{base}/metrics", "up"),
        ("nginx", f"{base}/nginx-metrics", "up"),
    ], [t["lastError"] for t in ours]
    assert [r["value"][1] for r in nginx_up["data"]["result"]] == ["1"]  # stub_status read
    assert wanted <= names, wanted - names  # every series the app-facing rules read exists
    paths = {r["metric"]["path"] for r in requests["data"]["result"]}
    assert "/api/items" in paths, paths

    second = bed.pyinfra(*DEPLOYS)
    outputs.append(second)
    assert second.returncode == 0, second.stdout[-3000:]
    assert pyinfra_changes(second) == 0, second.stdout[-3000:] + second.stderr[-3000:]

    audit, report = audit_json(bed, tmp_path, "--limit", "tb1")
    outputs.append(audit)
    found = {item: statuses(report)[("tb1", item)] for item in WEB_ITEMS}
    assert set(found.values()) == {"pass"}, {i: evidence(report, "tb1", i) for i in WEB_ITEMS}
    # every app alert item passes WITH data: the app is scraped, so its series are expected
    for item in APP_ITEMS:
        assert statuses(report)[("tb1", item)] == "pass", (item, evidence(report, "tb1", item))
        assert "data not expected" not in evidence(report, "tb1", item), item

    secrets = [
        line.split("=", 1)[1]
        for line in bed.run("tb1", f"cat {ENV_FILE}").splitlines()
        if "=" in line and ("SECRET" in line or "DATABASE_URL" in line)
    ]
    assert secrets and all(len(value) >= 20 for value in secrets)
    for done in outputs:
        assert not any(value in done.stdout + done.stderr for value in secrets)
