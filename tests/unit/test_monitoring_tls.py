"""TLS for Prometheus, Alertmanager and the exporters: rendered files, ARGS, the Redis
exporter's password, and the facts that read them (no host)."""

from __future__ import annotations

import pytest
import yaml
from pyinfra.api.exceptions import OperationError

from hardening.deploys.monitoring import DAEMONS, EXPORTERS
from hardening.facts.prometheus import (
    HARDENING_CA,
    PrometheusRules,
    RedisExporterAuth,
    ServiceArgs,
)
from hardening.operations import monitoring, tls
from tests.unit.test_monitoring_operations import FakeHost, commands, text

JOBS = {
    "node": [{"address": "10.0.0.5:9100", "host": "db1"}],
    "app": [{"address": "127.0.0.1:8000", "host": "web1"}],
}


def test_ca_path_of_the_facts_is_the_one_tls_deploys() -> None:
    assert HARDENING_CA == tls.CA_PATH


def test_scrape_config_uses_https_with_the_ca_for_tls_jobs_only() -> None:
    config = yaml.safe_load(
        monitoring.render_prometheus_config(
            JOBS, ["127.0.0.1:9093"], ca_file=tls.CA_PATH, tls_jobs=["node"]
        )
    )
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["node"]["scheme"] == "https"
    assert jobs["node"]["tls_config"] == {"ca_file": tls.CA_PATH}
    assert "scheme" not in jobs["app"] and "tls_config" not in jobs["app"]
    (manager,) = config["alerting"]["alertmanagers"]
    assert manager["scheme"] == "https" and manager["tls_config"]["ca_file"] == tls.CA_PATH


def test_scrape_config_without_ca_stays_plain_and_all_jobs_by_default() -> None:
    plain = yaml.safe_load(monitoring.render_prometheus_config(JOBS, ["127.0.0.1:9093"]))
    assert all("scheme" not in job for job in plain["scrape_configs"])
    every = yaml.safe_load(
        monitoring.render_prometheus_config(JOBS, ["127.0.0.1:9093"], ca_file=tls.CA_PATH)
    )
    assert {job["scheme"] for job in every["scrape_configs"]} == {"https"}


def test_web_config_is_tls12_with_the_service_pair() -> None:
    config = yaml.safe_load(monitoring.render_web_config("node-exporter", "/c.crt", "/k.key"))
    assert config == {
        "tls_server_config": {"cert_file": "/c.crt", "key_file": "/k.key", "min_version": "TLS12"}
    }


def test_merged_args_replace_our_flags_keep_others_and_are_stable() -> None:
    flags = {
        "web.config.file": "/etc/prometheus/web-alertmanager.yml",
        "cluster.listen-address": "",
    }
    current = ["--storage.path=/x", "-web.config.file=/old.yml", "--cluster.listen-address"]
    merged = monitoring.merged_args(current, flags)
    assert merged == [
        "--storage.path=/x",
        "--web.config.file=/etc/prometheus/web-alertmanager.yml",
        "--cluster.listen-address=",
    ]
    assert monitoring.merged_args(merged, flags) == merged


def test_args_line_refuses_words_systemd_would_split() -> None:
    assert monitoring.args_line(["--a=b", "--c="]) == 'ARGS="--a=b --c="'
    with pytest.raises(OperationError):
        monitoring.args_line(["--a=b c"])
    with pytest.raises(OperationError):
        monitoring.args_line(['--a="$(id)"'])


def test_service_args_rewrite_and_restart_only_on_change() -> None:
    flags = {"web.config.file": "/etc/prometheus/web-node-exporter.yml"}
    unit = "prometheus-node-exporter"
    rewrite, restart = (
        text(c)
        for c in commands(monitoring.service_args, FakeHost(ServiceArgs=[]), unit=unit, flags=flags)
    )
    assert rewrite == (
        f"sed -i '/^ARGS=/d' /etc/default/{unit} && printf '%s\\n' "
        f"'ARGS=\"--web.config.file=/etc/prometheus/web-node-exporter.yml\"' >> /etc/default/{unit}"
    )
    assert restart.startswith(f"systemctl restart {unit} && sleep 1 && systemctl is-active")
    done = FakeHost(ServiceArgs=["--web.config.file=/etc/prometheus/web-node-exporter.yml"])
    assert commands(monitoring.service_args, done, unit=unit, flags=flags) == []
    absent = FakeHost(ServiceArgs=None)
    assert commands(monitoring.service_args, absent, unit=unit, flags=flags) == []
    assert "not installed" in absent.noops[0]


def test_web_config_is_validated_where_promtool_exists() -> None:
    done = [
        text(c)
        for c in commands(
            monitoring.web_config, FakeHost(), service="x", cert_file="/c", key_file="/k"
        )
    ]
    assert done[1] == "upload /etc/prometheus/.hardening-staging/web-x.yml"
    assert done[3].startswith(
        "sh -c '! command -v promtool >/dev/null || promtool check web-config"
    )
    assert (
        done[4]
        == "mv -f /etc/prometheus/.hardening-staging/web-x.yml /etc/prometheus/web-x.yml && true"
    )


def test_facts_parse_args_and_auth_state() -> None:
    assert ServiceArgs().process(["#absent"]) is None
    assert ServiceArgs().process(["#present"]) == []
    assert ServiceArgs().process(["#present", 'ARGS="--a=1 --b="']) == ["--a=1", "--b="]
    assert RedisExporterAuth().process(["host_password", "synced", "mode:600"]) == {
        "host_password": True,
        "exporter_current": False,
        "exporter_login": False,
        "synced": True,
        "mode": "600",
        "user": "",
        "password_sha256": "",
    }
    assert RedisExporterAuth().process(["mode:"])["host_password"] is False
    command = RedisExporterAuth().command("/etc/default/r", "/etc/redis/a.conf").get_raw_value()
    assert "echo $a" not in command
    # the printfs of a password feed redis-cli (answer compared, not printed) and sha256sum
    first, second = command.split("printf")[1:]
    assert first.startswith(" 'AUTH exporter %s\\n' \"$e\" | timeout 5 redis-cli")
    assert "| sha256sum" in second


def test_api_facts_try_https_with_the_ca_first() -> None:
    command = PrometheusRules().command().get_raw_value()
    https = command.index(f"--cacert {HARDENING_CA} 'https://127.0.0.1:9090/api/v1/rules")
    assert https < command.index("'http://127.0.0.1:9090/api/v1/rules")


def test_every_scraped_daemon_serves_tls() -> None:
    assert {job for job, _, _ in EXPORTERS} == {d.job for d in DAEMONS}
    for daemon in DAEMONS:
        flags = daemon.tls_flags()
        assert flags.get("web.config.file") or flags.get("tls-server-cert-file") == daemon.cert
    alertmanager = next(d for d in DAEMONS if d.unit == "prometheus-alertmanager")
    assert alertmanager.tls_flags()["cluster.listen-address"] == ""
