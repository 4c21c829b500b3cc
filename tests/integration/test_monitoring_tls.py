"""Prometheus, Alertmanager and the exporters behind TLS on real hosts: a fresh host serves
them in plaintext (SEC-03 fails on them), deploys/monitoring.py puts each behind TLS with a
certificate of the internal CA, Prometheus scrapes every target over https (the Redis exporter
authenticated with Redis' generated password), hosts outside ``monitoring`` run neither
Prometheus nor Alertmanager, a rerun changes nothing and the password appears in no output."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from hardening.facts.redis import (
    ADMIN_CLI,
    EXPORTER_USER,
    acl_password_shell,
    admin_auth_shell,
    admin_password_shell,
    redis_target_shell,
)
from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes, statuses

CA = "/usr/local/share/ca-certificates/hardening-ca.crt"
OURS = {"9090", "9093", "9094", "9100", "9121", "9187"}
#: The daemons each host still runs after the deploy, and their ports.
SERVED = {"tb1": {"9090", "9093", "9100", "9121", "9187"}, "tb2": {"9100", "9187"}}


@pytest.fixture(scope="module")
def bed(module_bed, tmp_path_factory: pytest.TempPathFactory):
    module_bed.env["HARDENING_PKI_DIR"] = str(tmp_path_factory.mktemp("pki"))
    return module_bed


def _plaintext(report: dict, host: str) -> set[str]:
    """Ports SEC-03 lists as plaintext on ``host``."""
    found = re.search(r"plaintext: ([^;]*)", evidence(report, host, "SEC-03"))
    assert found, evidence(report, host, "SEC-03")
    return {port.strip() for port in found.group(1).split(",")} - {"none"}


def _api(bed, path: str) -> dict:
    return json.loads(bed.run("tb1", f"curl -fsS --cacert {CA} 'https://127.0.0.1:9090{path}'"))


def test_fresh_hosts_serve_the_monitoring_ports_in_plaintext(bed, tmp_path: Path) -> None:
    _, report = audit_json(bed, tmp_path)
    assert SERVED["tb1"] | {"9094"} <= _plaintext(report, "tb1")
    assert {"9090", "9093", "9100", "9187"} <= _plaintext(report, "tb2")


def test_deploy_puts_every_daemon_behind_tls(bed, tmp_path: Path) -> None:
    outputs = []
    secrets = bed.pyinfra("deploys/secrets.py")  # SEC-01: Redis gets a generated password
    assert secrets.returncode == 0, secrets.stdout[-3000:] + secrets.stderr[-3000:]
    first = bed.pyinfra("deploys/monitoring.py", "-vvv", "--diff")
    outputs.append(first)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert pyinfra_changes(first) > 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # every target scraped once over https
        every = _api(bed, "/api/v1/targets")["data"]["activeTargets"]
        # nothing is read through nginx in this module (web, app): test_monitoring_app.py
        targets = [t for t in every if t["labels"]["job"] not in ("app", "nginx")]
        redis_up = _api(bed, "/api/v1/query?query=" + quote("redis_up"))["data"]["result"]
        if targets and all(t["health"] == "up" for t in targets) and redis_up:
            break
        time.sleep(3)
    health = {(t["labels"]["host"], t["labels"]["job"]): t["health"] for t in targets}
    assert health == {
        **{("tb1", job): "up" for job in ("prometheus", "alertmanager", "node", "postgres")},
        ("tb1", "redis"): "up",
        ("tb2", "node"): "up",
        ("tb2", "postgres"): "up",
    }, [(t["scrapeUrl"], t["lastError"]) for t in targets]
    assert all(t["scrapeUrl"].startswith("https://") for t in every)
    app = sorted((t["labels"]["job"], t["scrapeUrl"]) for t in every if t not in targets)
    tb1 = f"https://{bed.hosts[0].address}:443"
    assert app == [("app", f"{tb1}/metrics"), ("nginx", f"{tb1}/nginx-metrics")], app
    assert [r["value"][1] for r in redis_up] == ["1"]  # the exporter authenticates
    managers = _api(bed, "/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
    assert [m["url"] for m in managers] == ["https://127.0.0.1:9093/api/v2/alerts"]

    _, report = audit_json(bed, tmp_path)
    # the exporter's user reads Redis, so the series MON-WARN-04's rule reads exist
    assert statuses(report)[("tb1", "MON-WARN-04")] == "pass", evidence(
        report, "tb1", "MON-WARN-04"
    )
    assert "data not expected" not in evidence(report, "tb1", "MON-WARN-04")
    for host, ports in SERVED.items():
        assert not _plaintext(report, host) & OURS, evidence(report, host, "SEC-03")
        assert all(f"{port} (tls" in evidence(report, host, "SEC-03") for port in ports)
    assert bed.ssh("tb1", "ss -ltn | grep -q ':9094 '").returncode != 0  # no cluster port
    state = bed.run(
        "tb2",
        "for u in prometheus prometheus-alertmanager prometheus-redis-exporter; do"
        " echo $(systemctl is-active $u) $(systemctl is-enabled $u); done",
    )
    assert state.split("\n")[:3] == ["inactive disabled"] * 3, state
    keys = bed.run("tb1", "stat -c '%a %U' /etc/ssl/hardening/*exporter*.key")
    assert set(keys.split("\n")) - {""} == {"600 prometheus"}
    env_file = "/etc/default/prometheus-redis-exporter"
    assert bed.run("tb1", f"stat -c '%a %U' {env_file}").strip() == "600 root"
    # the exporter logs in as its own introspection-only ACL user, not as admin
    admin = bed.run("tb1", admin_password_shell()).strip()
    password = bed.run("tb1", acl_password_shell(EXPORTER_USER)).strip()
    assert len(password) == 40 and len(admin) >= 20 and password != admin
    assert bed.run("tb1", f"grep '^REDIS_USER=' {env_file}").strip() == "REDIS_USER=exporter"
    assert bed.run("tb1", "stat -c '%a %U' /etc/redis/hardening-auth.conf").strip() == "640 redis"
    target = redis_target_shell("/etc/redis/redis.conf")
    live = bed.run("tb1", f"{target} {admin_auth_shell()} {ADMIN_CLI} $t ACL LIST")
    exporter = next(line for line in live.splitlines() if line.startswith("user exporter on "))
    assert "-@all" in exporter and "+info" in exporter and "~" not in exporter, exporter
    argv = bed.run("tb1", "tr '\\0' ' ' < /proc/$(pgrep -f -o prometheus-redis-exporter)/cmdline")
    assert "tls-server-cert-file" in argv and password not in argv

    second = bed.pyinfra("deploys/monitoring.py")
    outputs.append(second)
    assert second.returncode == 0, second.stdout[-3000:]
    assert pyinfra_changes(second) == 0, second.stdout[-3000:] + second.stderr[-3000:]
    outputs.append(bed.hardening("audit", bed.inventory, "-v"))
    for done in outputs:
        assert password not in done.stdout + done.stderr
        assert admin not in done.stdout + done.stderr
