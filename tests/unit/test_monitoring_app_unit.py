"""Prometheus reads the reference app's /metrics through nginx (issue 8): the nginx location
that lets only the monitoring hosts through, the ``app`` scrape job, and the app's metric
names against the alert rules that read them (no host)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from hardening.alert_rules import APP_ITEMS, rule_metrics
from hardening.deploys.monitoring import APP_JOB, NGINX_JOB, scrape_jobs, tls_jobs
from hardening.operations import nginx
from hardening.operations._render import sha1
from hardening.operations.monitoring import render_prometheus_config, render_rules
from tests.unit.test_app_pieces import demo_app
from tests.unit.test_monitoring_operations import FakeHost, commands, text
from tests.unit.test_tls_web import PAIR, _servers

HOSTS = [
    SimpleNamespace(name="web1", groups=["web", "monitoring"], data={"ssh_hostname": "10.0.0.5"}),
    SimpleNamespace(
        name="web2", groups=["web"], data={"ssh_hostname": "10.0.0.6", "web_tls": False}
    ),
    SimpleNamespace(name="db1", groups=["db_primary"], data={"ssh_hostname": "10.0.0.7"}),
]


def _metrics_location(server: str) -> str:
    found = re.search(r"location = /metrics \{\n(.*?)\n    \}", server, flags=re.S)
    assert found, server
    return found.group(1)


def test_metrics_are_proxied_for_loopback_and_the_monitoring_hosts_only() -> None:
    text = nginx.render_site(
        tls=PAIR, metrics_allow=["10.0.0.9", "10.1.0.0/16"], metrics_upstream="127.0.0.1:8001"
    )
    plain, secure = _servers(text)
    assert "/metrics" not in plain  # port 80 only redirects
    lines = [line.strip() for line in _metrics_location(secure).splitlines()]
    assert lines[:5] == [
        "allow 127.0.0.1;",
        "allow 10.0.0.9;",
        "allow 10.1.0.0/16;",
        "allow ::1;",
        "deny all;",
    ]
    assert "proxy_pass http://127.0.0.1:8001/metrics;" in lines


def test_nginx_exporter_page_and_stub_status_on_loopback() -> None:
    text = nginx.render_site(tls=PAIR, metrics_allow=["10.0.0.9"], stub_status_port=8081)
    *_, secure, status = _servers(text)
    found = re.search(r"location = /nginx-metrics \{\n(.*?)\n    \}", secure, flags=re.S)
    assert found and "allow 10.0.0.9;\n" in found.group(1) and "deny all;" in found.group(1)
    assert f"proxy_pass http://{nginx.EXPORTER_LISTEN}/metrics;" in found.group(1)
    assert "listen 127.0.0.1:8081;" in status and "stub_status;" in status
    assert "stub_status" not in secure and "/nginx-metrics" not in nginx.render_site(tls=PAIR)
    args = nginx.render_exporter_defaults(8081)
    assert "--nginx.scrape-uri=http://127.0.0.1:8081/stub_status" in args
    assert f"--web.listen-address={nginx.EXPORTER_LISTEN}" in args
    assert nginx.EXPORTER_LISTEN.startswith("127.0.0.1:")


def test_without_monitoring_hosts_only_loopback_reads_the_metrics() -> None:
    location = _metrics_location(_servers(nginx.render_site())[-1])
    assert re.findall(r"(allow|deny) (\S+);", location) == [
        ("allow", "127.0.0.1"),
        ("allow", "::1"),
        ("deny", "all"),
    ]


def test_metrics_sources_are_addresses_or_networks() -> None:
    assert nginx.metrics_sources(["10.0.0.9", "10.0.0.9", "fd00::/64"]) == [
        "127.0.0.1",
        "10.0.0.9",
        "::1",
        "fd00::/64",
    ]
    with pytest.raises(ValueError):
        nginx.metrics_sources(["10.0.0.9; allow all"])


def test_app_job_scrapes_every_web_host_through_nginx() -> None:
    jobs = scrape_jobs(HOSTS)
    assert jobs[APP_JOB] == [
        {"address": "10.0.0.5:443", "host": "web1"},
        {"address": "10.0.0.6:80", "host": "web2", "scheme": "http"},
    ]
    assert jobs[NGINX_JOB] == [
        {"address": "10.0.0.5:443", "host": "web1", "metrics_path": "/nginx-metrics"},
        {
            "address": "10.0.0.6:80",
            "host": "web2",
            "scheme": "http",
            "metrics_path": "/nginx-metrics",
        },
    ]
    assert tls_jobs(jobs, exporters_tls=False) == [APP_JOB, NGINX_JOB]
    exporters = [job for job in jobs if job not in (APP_JOB, NGINX_JOB)]
    assert tls_jobs(jobs, exporters_tls=True) == [*exporters, APP_JOB, NGINX_JOB]
    without = [SimpleNamespace(**{**vars(HOSTS[0]), "data": {"web_nginx_exporter": False}})]
    assert NGINX_JOB not in scrape_jobs(without)
    no_web = scrape_jobs(HOSTS[2:])
    assert APP_JOB not in no_web and tls_jobs(no_web, exporters_tls=False) == []


def test_app_job_is_https_with_the_ca_and_alertmanager_follows_monitoring_tls() -> None:
    jobs = scrape_jobs(HOSTS)
    config = yaml.safe_load(
        render_prometheus_config(
            jobs,
            ["127.0.0.1:9093"],
            ca_file="/ca.crt",
            tls_jobs=tls_jobs(jobs, exporters_tls=False),
            alertmanager_tls=False,
        )
    )
    scrape = {job["job_name"]: job for job in config["scrape_configs"]}
    assert scrape["app"]["scheme"] == "https"
    assert scrape["app"]["tls_config"] == {"ca_file": "/ca.crt"}
    assert [group["labels"] for group in scrape["app"]["static_configs"]] == [
        {"host": "web1"},
        {"host": "web2", "__scheme__": "http"},
    ]
    assert scrape["nginx"]["static_configs"][0]["labels"] == {
        "host": "web1",
        "__metrics_path__": "/nginx-metrics",
    }
    assert "scheme" not in scrape["node"]
    assert "scheme" not in config["alerting"]["alertmanagers"][0]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_config_with_the_app_job_passes_promtool(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(render_rules())
    (tmp_path / "ca.crt").write_text("")
    jobs = scrape_jobs(HOSTS)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        render_prometheus_config(
            jobs,
            ["127.0.0.1:9093"],
            rules_path=str(tmp_path / "rules.yml"),
            ca_file=str(tmp_path / "ca.crt"),
            tls_jobs=tls_jobs(jobs, exporters_tls=True),
        )
    )
    done = subprocess.run(
        ["promtool", "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _names(text: str) -> set[str]:
    """Metric names of a Prometheus text page (histograms by their series names)."""
    return {re.split(r"[{ ]", line)[0] for line in text.splitlines() if not line.startswith("#")}


def test_the_app_exposes_every_metric_its_alert_rules_read() -> None:
    wanted = {metric for item in APP_ITEMS for metric in rule_metrics(item)}
    assert wanted == {
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "websocket_connections_total",
        "websocket_disconnections_total",
        "api_rate_limit_limit",
        "api_rate_limit_remaining",
    }
    metrics = demo_app.Metrics()
    metrics.observe("/api/items", 200, 0.01)
    assert wanted <= _names(metrics.render())


def test_rate_limit_gauges_follow_the_busiest_client_over_a_sliding_minute() -> None:
    metrics = demo_app.Metrics(rate_per_second=10)  # 600 per minute
    start = 6000.0  # a window boundary
    for _ in range(500):
        metrics.api_request("10.0.0.1", start + 10)
    metrics.api_request("10.0.0.2", start + 10)
    text = metrics.render(now=start + 30)
    assert "api_rate_limit_limit 600" in text and "api_rate_limit_remaining 100" in text
    assert metrics.api_rate_remaining(start + 90) == 600 - 250  # half the last window inside
    assert metrics.api_rate_remaining(start + 200) == 600  # idle clients forgotten
    assert metrics.api_clients == {}


def test_only_abnormal_websocket_ends_count_as_disconnections() -> None:
    assert {1000, 1001} <= set(demo_app.NORMAL_CLOSE) and 1006 not in demo_app.NORMAL_CLOSE


def _exporter_commands(fake: FakeHost) -> list[str]:
    done = commands(nginx.nginx_exporter, fake, stub_status_port=8081)
    return [line if isinstance(line, str) else text(line) for line in done]


def test_nginx_exporter_is_installed_configured_restarted_then_left_alone() -> None:
    unit = f"{nginx.EXPORTER_UNIT}.service"
    done = _exporter_commands(FakeHost(DebPackages={}, SystemdStatus={}, SystemdEnabled={}))
    assert "install" in done[0] and nginx.EXPORTER_UNIT in done[0]
    assert f"upload /etc/default/.hardening-staging/{nginx.EXPORTER_UNIT}" in done
    assert f"&& systemctl restart {nginx.EXPORTER_UNIT}" in done[-3]
    assert done[-2:] == [f"systemctl start {unit}", f"systemctl enable {unit}"]
    current = FakeHost(
        DebPackages={nginx.EXPORTER_UNIT: ["0.11.0-1+b4"]},
        Sha1File=sha1(nginx.render_exporter_defaults(8081)),
        SystemdStatus={unit: True},
        SystemdEnabled={unit: True},
    )
    assert _exporter_commands(current) == []
    assert f"nginx exporter arguments {nginx.EXPORTER_DEFAULTS} is current" in current.noops
