"""PERF-02, PERF-03, PERF-04 and INF-07 on real hosts: they fail on a fresh host; with
realistic data, the application deployed and a tracing collector declared, they pass,
and a trace exported by the application reaches the collector."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes, statuses

ITEMS = ("PERF-02", "PERF-03", "PERF-04", "INF-07")


class _Collector(BaseHTTPRequestHandler):
    """A minimal OTLP/HTTP receiver: accepts POST /v1/traces and keeps the bodies."""

    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/v1/traces":
            _Collector.received.append(json.loads(body or b"{}"))
        self.send_response(200 if self.path == "/v1/traces" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def collector(module_bed):
    gateway = module_bed.hosts[0].gateway
    server = ThreadingHTTPServer((gateway, 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{gateway}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _declare(bed, **data) -> None:
    state = Path(bed.env["HARDENING_TESTBED_STATE"]) / "inventory.json"
    document = json.loads(state.read_text())
    for entry in document["hosts"]:
        entry["data"].update(data)
    state.write_text(json.dumps(document))


def test_fresh_host_fails(module_bed, tmp_path: Path) -> None:
    _, report = audit_json(module_bed, tmp_path, "--limit", "tb1")
    found = statuses(report)
    for item in ITEMS:
        assert found[("tb1", item)] == "fail", (item, evidence(report, "tb1", item))


def test_realistic_data_app_and_collector_pass(module_bed, collector, tmp_path: Path) -> None:
    module_bed.run("tb1", "runuser -u postgres -- pgbench -q -i -s 1 postgres 2>&1 | tail -1")
    module_bed.run("tb1", "runuser -u postgres -- psql -XAtqc 'ANALYZE pgbench_accounts'")
    _declare(
        module_bed,
        perf_min_rows={"postgres/public.pgbench_accounts": 100000},
        perf_benchmark_queries=[
            {
                "name": "accounts_of_branch",
                "sql": "SELECT count(*) FROM pgbench_accounts WHERE bid = 1",
            }
        ],
        app_otlp_endpoint=collector,
    )
    deployed = module_bed.pyinfra("deploys/app.py", "--limit", "tb1")
    assert deployed.returncode == 0, deployed.stderr[-2000:]
    module_bed.run("tb1", "curl -s -o /dev/null http://127.0.0.1:8000/api/items")
    deadline = time.monotonic() + 20
    while not _Collector.received and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _Collector.received, "the application exported no trace to the collector"
    _, report = audit_json(module_bed, tmp_path, "--limit", "tb1")
    found = statuses(report)
    for item in ITEMS:
        assert found[("tb1", item)] == "pass", (item, evidence(report, "tb1", item))
    assert "accounts_of_branch median" in evidence(report, "tb1", "PERF-02")
    rerun = module_bed.pyinfra("deploys/app.py", "--limit", "tb1")
    assert pyinfra_changes(rerun) == 0
