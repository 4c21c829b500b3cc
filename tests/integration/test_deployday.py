"""Deployment day on real hosts: a release with gates, notes and records, a failing release
rolled back automatically, watch samples judged; no secret value in any output.

The reference app (examples/app) does not exist yet: the releases are tiny stdlib HTTP
servers run by a real systemd unit under the app contract's names and paths.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes, statuses
from tests.integration.textfile_helpers import (
    alert_passes_with_data,
    node_samples,
    wait_for_series,
)

SECRET = "s3cr3t-jwt-value-never-printed-0123456789abcdef"
SERVER = r"""
import base64, hashlib, http.server, json, os, sys
HEALTHY = os.path.basename(os.path.dirname(os.path.realpath(__file__))) != "v3"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def echo(self):
        key = self.headers["Sec-WebSocket-Key"].encode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket"); self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept",
                         base64.b64encode(hashlib.sha1(key + GUID).digest()).decode())
        self.end_headers(); self.wfile.flush()
        head = self.rfile.read(2); mask = self.rfile.read(4)
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(head[1] & 0x7F)))
        self.wfile.write(bytes([0x81, len(data)]) + data); self.wfile.flush()
        self.close_connection = True
    def do_GET(self):
        if self.path == "/ws":
            return self.echo()
        if self.path == "/healthz":
            code, body = (200 if HEALTHY else 500), json.dumps({"status": "ok", "db": "ok"})
        elif self.path == "/api/items":
            code, body = 200, "[]"
        elif self.path == "/":
            code, body = 200, open("/srv/hardening-demo-app/static/index.html").read()
        else:
            code, body = 404, "{}"
        self.send_response(code); self.send_header("Content-Length", str(len(body.encode())))
        self.end_headers(); self.wfile.write(body.encode())
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", 8000), H).serve_forever()
"""
UNIT = """[Unit]
Description=hardening demo app (test release)
[Service]
EnvironmentFile=/etc/hardening-demo-app/env
ExecStart=/usr/bin/python3 /opt/hardening-demo-app/current/server.py
Restart=on-failure
[Install]
WantedBy=multi-user.target
"""
ITEMS = ("PRE-03", "PRE-04", "PRE-05", "PRE-07", "DEP-01", "DEP-03", "DEP-04", "DEP-05")
ITEMS += ("DEP-06", "POST-01", "POST-04", "POST-07")
GATES = ("websocket", "log_scan", "notification", "verbose_logging")


class Receiver(BaseHTTPRequestHandler):
    events: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.events.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def bed(module_bed, tmp_path_factory: pytest.TempPathFactory):
    host = module_bed.hosts[0]
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    setup = ["mkdir -p /etc/hardening-demo-app /srv/hardening-demo-app"]
    local = tmp_path_factory.mktemp("build") / "v2"  # uploaded by deploy-day
    (local / "static").mkdir(parents=True)
    (local / "static" / "index.html").write_text("<html>v2</html>\n")
    (local / "server.py").write_text(SERVER)
    module_bed.release_dir = local
    for version in ("v1", "v3"):
        base = f"/opt/hardening-demo-app/releases/{version}"
        setup.append(
            f"mkdir -p {base}/static && echo '<html>{version}</html>' > {base}/static/index.html"
        )
        setup.append(f"cat > {base}/server.py <<'EOS'\n{SERVER}\nEOS")
    setup += [
        "ln -sfn /opt/hardening-demo-app/releases/v1 /opt/hardening-demo-app/current",
        "ln -sfn /opt/hardening-demo-app/releases/v1/static /srv/hardening-demo-app/static",
        f"umask 077; echo JWT_SECRET={SECRET} > /etc/hardening-demo-app/env",
        f"cat > /etc/systemd/system/hardening-demo-app.service <<'EOS'\n{UNIT}EOS",
        "systemctl daemon-reload && systemctl enable --now hardening-demo-app",
    ]
    module_bed.run(host.name, "\n".join(setup))
    state = Path(module_bed.env["HARDENING_TESTBED_STATE"]) / "inventory.json"
    document = json.loads(state.read_text())
    for entry in document["hosts"]:
        entry["data"].update(
            deployday_webhook_url=f"http://127.0.0.1:{server.server_port}/hook",
            deployday_regression_command=f"{sys.executable} -c 'print(\"3 passed\")'",
            deployday_health_timeout=5,
            deployday_integrity_tables=["postgres/pg_database"],
        )
    state.write_text(json.dumps(document))
    module_bed.outputs = []
    yield module_bed
    server.shutdown()


def _deploy_day(bed, release: str, tmp_path: Path):
    # `hardening deploy-day` once wired into cli.py; the module entry point until then
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hardening.deployday",
            bed.inventory,
            "--release",
            release,
            "--allow-no-backup",
            "--run-dir",
            str(tmp_path / "runs"),
            "--docs-dir",
            str(tmp_path / "docs"),
        ],
        env=bed.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    bed.outputs.append(done)
    for log in (tmp_path / "runs").glob("*/pyinfra.log"):
        assert SECRET not in log.read_text()
    return done


def test_fresh_host_is_pending(bed, tmp_path: Path) -> None:
    _, report = audit_json(bed, tmp_path, "--limit", "tb1")
    found = statuses(report)
    for item in ITEMS + ("STAB-01", "STAB-05"):
        assert found[("tb1", item)] == "pending", (item, evidence(report, "tb1", item))
    assert "no deploy-day run recorded" in evidence(report, "tb1", "DEP-01")


def test_release_passes_gates_and_is_documented(bed, tmp_path: Path) -> None:
    done = _deploy_day(bed, str(bed.release_dir), tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    current = bed.run("tb1", "readlink /opt/hardening-demo-app/current").strip()
    assert current.endswith("/releases/v2")
    assert [e["event"] for e in Receiver.events] == ["maintenance_start", "deployment_succeeded"]
    run = json.loads((tmp_path / "runs" / "v2" / "run.json").read_text())
    assert run["result"] == "success"
    assert (tmp_path / "runs" / "v2" / "tb1" / "snapshot.json").exists()
    assert (tmp_path / "docs" / "v2.md").exists()
    assert "releases/v2" in bed.run("tb1", "cat /var/lib/hardening/deployday/v2/NOTES.md")
    deployed = node_samples(bed, "tb1", "deployment_")  # MON-INFO-01's data
    assert deployed['deployment_info{service="app",version="v2"}'] == 1, deployed
    assert deployed['deployment_timestamp_seconds{service="app"}'] > 1.7e9, deployed
    assert wait_for_series(bed, "tb1", "deployment_timestamp_seconds"), deployed
    assert (
        bed.run("tb1", "ls /etc/nginx/conf.d/ /etc/postgresql/15/main/conf.d/").count("deployday")
        == 0
    ), "verbose logging must be off after the window"
    assert bed.run("tb1", "systemctl is-enabled hardening-deployday-watch.timer").strip() == (
        "enabled"
    )
    watch = subprocess.run(
        [sys.executable, "-m", "hardening.deployday", bed.inventory, "--release", "v2", "--watch"],
        env=bed.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert watch.returncode == 0, watch.stdout[-2000:] + watch.stderr[-2000:]
    for _ in range(2):
        bed.run(
            "tb1",
            "hardening-deployday --table postgres/pg_database watch "
            "--prometheus http://127.0.0.1:9090 v2",
        )
    _, report = audit_json(bed, tmp_path, "--limit", "tb1")
    found = statuses(report)
    for item in ITEMS + ("STAB-01", "STAB-04", "STAB-05"):
        assert found[("tb1", item)] in ("pass", "not_applicable"), (
            item,
            found[("tb1", item)],
            evidence(report, "tb1", item),
        )
    for item in ("DEP-01", "DEP-05", "PRE-03", "POST-01", "STAB-04"):
        assert found[("tb1", item)] == "pass", (item, evidence(report, "tb1", item))
    assert "3 passed" in evidence(report, "tb1", "POST-01")
    gates = json.loads(bed.run("tb1", "cat /var/lib/hardening/deployday/last.json"))["gates"]
    for gate in GATES:
        assert gates[gate]["status"] == "pass", (gate, gates[gate])
    assert "echo round trip ok" in gates["websocket"]["detail"]
    assert "db ok" in gates["backend_health"]["detail"]
    # the same release again: already live, nothing to do, the record is untouched
    last = bed.run("tb1", "cat /var/lib/hardening/deployday/last.json")
    rerun = bed.pyinfra("deploys/release.py", "--limit", "tb1", "--data", "deployday_release=v2")
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert pyinfra_changes(rerun) == 0, rerun.stdout[-3000:]
    assert bed.run("tb1", "cat /var/lib/hardening/deployday/last.json") == last


def test_failing_release_is_rolled_back(bed, tmp_path: Path) -> None:
    done = _deploy_day(bed, "v3", tmp_path)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "stopped at gate backend_health" in done.stderr
    current = bed.run("tb1", "readlink /opt/hardening-demo-app/current").strip()
    assert current.endswith("/releases/v2")
    assert bed.run("tb1", "curl -fsS http://127.0.0.1:8000/healthz")
    run = json.loads((tmp_path / "runs" / "v3" / "run.json").read_text())
    assert run["result"] == "rolled_back" and run["failed_gate"] == "backend_health"
    _, report = audit_json(bed, tmp_path, "--limit", "tb1")
    assert statuses(report)[("tb1", "DEP-01")] == "fail"
    assert "v3" in evidence(report, "tb1", "DEP-01")
    rerun = bed.pyinfra("deploys/rollback.py", "--limit", "tb1", "--data", "deployday_release=v3")
    assert pyinfra_changes(rerun) == 0, rerun.stdout[-3000:]


def test_no_secret_in_outputs(bed) -> None:
    bed.outputs.append(bed.ssh("tb1", "cat /var/lib/hardening/deployday/*/*.json; ps auxww"))
    for done in bed.outputs:
        assert SECRET not in done.stdout + done.stderr


def test_deployment_alert_has_data_once_monitoring_is_deployed(bed, tmp_path: Path) -> None:
    """MON-INFO-01 end to end: the monitoring host's Prometheus (deploys/monitoring.py) reads
    deployment_timestamp_seconds from the released host and the item passes with it."""
    alert_passes_with_data(bed, tmp_path, "MON-INFO-01", "DeploymentHappened")
