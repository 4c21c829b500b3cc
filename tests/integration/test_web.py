"""The web tier end to end (issue 8 items 1-3): nginx with gzip, cache headers, CORS,
rate limits, proxy cache and the ModSecurity CRS WAF, haproxy balancing two instances of
the reference app with active health checks. Fresh hosts fail, deploys/web.py makes the
items pass, a rerun changes nothing, bad input changes nothing, a stopped instance is
reported DOWN while traffic continues."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from hardening.facts.nginx import WEBSOCKET_CURL
from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes, statuses

ITEMS = ("SEC-05", "SEC-06", "FE-05", "FE-06", "PERF-08", "INF-04", "INF-01")
ORIGIN = "https://app.example.net"
SECOND = "127.0.0.1:8001"

INVENTORY = f'''
from hardening.testbed import load_inventory

_groups = load_inventory()
EXTRA = {{"web_cors_origins": ["{ORIGIN}"], "web_app_servers": ["127.0.0.1:8000", "{SECOND}"]}}
web = [(name, {{**data, **EXTRA}}) for name, data in _groups["web"]]
db_primary = _groups["db_primary"]
db_replica = _groups["db_replica"]
cache = _groups["cache"]
monitoring = _groups["monitoring"]
'''

#: A second instance of the reference app, beside the one deploys/app.py runs on :8000.
SECOND_INSTANCE = (
    "systemd-run --unit hardening-demo-app-b -p User=hardening-demo-app"
    " -p EnvironmentFile=/etc/hardening-demo-app/env -E APP_LISTEN=" + SECOND + " "
    "/usr/bin/python3 /opt/hardening-demo-app/app.py"
)
WEBSOCKET = WEBSOCKET_CURL.format(url="https://127.0.0.1/ws") + "; true"  # web_tls on
WEB_STATE = (
    "sha256sum /etc/haproxy/haproxy.cfg; ls /etc/nginx/sites-enabled;"
    " ls /etc/nginx/sites-available; systemctl is-active nginx haproxy"
)


@pytest.fixture(scope="module")
def bed(module_bed, tmp_path_factory):
    inventory = tmp_path_factory.mktemp("web") / "inventory.py"
    inventory.write_text(INVENTORY)
    module_bed.inventory = str(inventory)
    for script in ("deploys/app.py", "deploys/redis.py"):  # PERF-08 judges Redis on tb1 too
        done = module_bed.pyinfra(script)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    module_bed.run("tb1", SECOND_INSTANCE)
    return module_bed


def _web_results(bed, tmp_path: Path) -> tuple[dict, dict]:
    _, report = audit_json(bed, tmp_path, "--limit", "tb1")
    return report, statuses(report)


def test_fresh_host_fails_every_web_item(bed, tmp_path: Path) -> None:
    report, found = _web_results(bed, tmp_path)
    for item in ITEMS:
        assert found[("tb1", item)] == "fail", (item, evidence(report, "tb1", item))
    assert "not blocked: sqli" in evidence(report, "tb1", "INF-04")
    assert "no backend servers" in evidence(report, "tb1", "INF-01")


def test_bad_input_is_refused_and_changes_nothing(bed, tmp_path: Path) -> None:
    before = bed.run("tb1", WEB_STATE)
    wildcard = bed.pyinfra(
        "deploys/web.py",
        "--data",
        'web_cors_origins=["*"]',
        "--data",
        "web_cors_allow_credentials=true",
    )
    assert wildcard.returncode != 0
    assert "refused, nothing changed: web_cors_origins contains '*'" in (
        wildcard.stdout + wildcard.stderr
    )
    deploy = tmp_path / "broken.py"
    deploy.write_text(
        "from hardening.operations import haproxy, nginx\n"
        "nginx.site(name='broken site', content='server { no_such_directive on; }\\n',\n"
        "           _ignore_errors=True)\n"
        "haproxy.config(name='broken haproxy', content='frontend x\\n  bind :notaport\\n',\n"
        "               _ignore_errors=True)\n"
    )
    broken = bed.pyinfra(str(deploy), "--limit", "tb1")
    output = broken.stdout + broken.stderr
    assert 'unknown directive "no_such_directive"' in output, output[-3000:]
    assert "nginx site rejected" in output and "haproxy configuration rejected" in output
    assert bed.run("tb1", WEB_STATE) == before


def test_deploy_makes_the_items_pass_and_a_rerun_changes_nothing(bed, tmp_path: Path) -> None:
    first = bed.pyinfra("deploys/web.py")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert pyinfra_changes(first) > 0
    time.sleep(3)  # haproxy's first health checks (inter 2s, rise 2)
    report, found = _web_results(bed, tmp_path)
    for item in ITEMS:
        assert found[("tb1", item)] == "pass", (item, evidence(report, "tb1", item))
    assert "blocked with 403: sqli, xss, traversal; normal request: 200" in evidence(
        report, "tb1", "INF-04"
    )
    assert "CRS paranoia level 1" in evidence(report, "tb1", "INF-04")
    assert "x429" in evidence(report, "tb1", "SEC-06")
    assert f"preflight from {ORIGIN}: 204, Access-Control-Allow-Origin {ORIGIN}" in evidence(
        report, "tb1", "SEC-05"
    )
    assert "Access-Control-Allow-Origin absent" in evidence(report, "tb1", "SEC-05")
    assert "Content-Encoding gzip" in evidence(report, "tb1", "FE-05")
    assert "immutable" in evidence(report, "tb1", "FE-06")
    assert "X-Cache-Status HIT" in evidence(report, "tb1", "PERF-08")
    assert f"{SECOND} UP (L7OK 200)" in evidence(report, "tb1", "INF-01")
    # both app instances answer the WebSocket upgrade through nginx and haproxy
    upgrades = bed.run("tb1", f"for i in 1 2 3 4; do {WEBSOCKET}; done").split()
    assert upgrades == ["HTTP/1.1", "101"] * 4, upgrades
    second = bed.pyinfra("deploys/web.py")
    assert second.returncode == 0, second.stdout[-3000:]
    assert pyinfra_changes(second) == 0, second.stdout[-3000:]


def test_a_stopped_instance_is_down_and_traffic_continues(bed, tmp_path: Path) -> None:
    bed.run("tb1", "systemctl stop hardening-demo-app-b")
    codes = bed.run(
        "tb1",
        "for i in $(seq 10); do curl -s -m 5 -o /dev/null -w '%{http_code} ' "
        "https://127.0.0.1/healthz; done",
    )
    assert codes.split() == ["200"] * 10, codes
    time.sleep(3)  # fall 2 at inter 2s
    report, found = _web_results(bed, tmp_path)
    assert f"{SECOND} DOWN" in evidence(report, "tb1", "INF-01")
    assert found[("tb1", "INF-01")] == "pass"  # the other instance serves


def test_no_secret_in_any_output(bed, tmp_path: Path) -> None:
    env = dict(
        line.split("=", 1)
        for line in bed.run("tb1", "cat /etc/hardening-demo-app/env").splitlines()
        if "=" in line and not line.startswith("#")
    )
    secrets = [env["JWT_SECRET"], urlsplit(env["DATABASE_URL"]).password or ""]
    assert secrets and all(len(s) >= 16 for s in secrets)
    outputs = [bed.pyinfra("deploys/web.py", "-vvv", "--diff")]
    outputs.append(bed.hardening("audit", bed.inventory, "--limit", "tb1", "--format", "json"))
    for done in outputs:
        for secret in secrets:
            assert secret not in done.stdout and secret not in done.stderr
