"""Logs and configuration backups: fact parsers on captured output, the rsyslog template,
and the checks on canned facts."""

from __future__ import annotations

import time

import pytest

from hardening.checks import HostContext, registry
from hardening.facts.config_backup import ConfigBackups
from hardening.facts.logs import (
    CentralLogs,
    JournalCounts,
    LogForwarding,
    LogReview,
    LogRotation,
    LogTimers,
)
from hardening.operations.logs import relp_tls, render_rsyslog
from hardening.results import Status

CHECKS = registry()
NOW = time.time()
TLS = relp_tls("/usr/local/share/ca-certificates/hardening-ca.crt", ["log1"], ["log1", "web1"])
CONF = render_rsyslog(
    "10.0.0.5",
    2514,
    "relp",
    [{"path": "/var/log/nginx/*.log", "tag": "nginx"}],
    receiver=True,
    tls=TLS,
)
TIMER = {"enabled": True, "active": True, "calendar": "*-*-* 06:30:00", "last_trigger": NOW}


def forwarding_fact(conf: str = CONF) -> dict:
    joined = " ".join(line for line in conf.splitlines() if not line.startswith("#"))
    lines = joined.replace("action(", "\naction(").replace("input(", "\ninput(").splitlines()
    return LogForwarding().process(["#active=active", *lines, f'#marker={{"sent": {NOW}}}'])


def test_forwarding_parser_reads_rendered_config() -> None:
    fact = forwarding_fact()
    assert fact["rsyslog_active"] and fact["last_marker_sent"] == pytest.approx(NOW)
    assert fact["forwards"] == [
        {"type": "omrelp", "target": "10.0.0.5", "port": 2514, "protocol": "relp", "tls": True}
    ]
    assert fact["files"] == [{"path": "/var/log/nginx/*.log", "tag": "nginx"}]
    assert fact["receivers"] == [{"type": "imrelp", "port": 2514, "tls": True}]


def test_relp_tls_template_names_certificates_and_peers() -> None:
    assert CONF.count('tls="on"') == 2 and CONF.count('tls.authmode="name"') == 2
    assert 'tls.permittedpeer=["log1"]' in CONF  # the sender accepts only the log host
    assert 'tls.permittedpeer=["log1", "web1"]' in CONF  # the log host: the inventory's hosts
    assert 'tls.myprivkey="/etc/ssl/hardening/rsyslog.key"' in CONF
    plain = forwarding_fact(render_rsyslog("10.0.0.5", 2514, "relp", receiver=True))
    assert not plain["forwards"][0]["tls"] and not plain["receivers"][0]["tls"]
    with pytest.raises(ValueError, match="logs_tls needs logs_transport relp"):
        render_rsyslog("10.0.0.5", 2514, "tcp", tls=TLS)


def test_plaintext_relp_fails_while_logs_tls_is_on() -> None:
    facts = healthy()
    facts[LogForwarding] = forwarding_fact(render_rsyslog("10.0.0.5", 2514, "relp", receiver=True))
    outcome = CHECKS["logs.forwarding"](context(facts))
    assert outcome.status is Status.FAIL
    assert "unencrypted" in outcome.evidence and "receives without TLS on 2514" in outcome.evidence
    allowed = CHECKS["logs.forwarding"](context(facts, data={"logs_tls": False}))
    assert allowed.status is Status.PASS and "over RELP;" in allowed.evidence


def test_plain_tcp_and_bad_transport() -> None:
    fact = forwarding_fact(render_rsyslog("10.0.0.5", 2514, "tcp"))
    assert fact["forwards"][0]["protocol"] == "tcp" and not fact["receivers"]
    with pytest.raises(ValueError, match="logs_transport"):
        render_rsyslog("10.0.0.5", 2514, "udp")


def test_central_logs_parser() -> None:
    output = [
        "#exists",
        "#host=web1",
        "#file=auth.log",
        "#file=hardening-log-marker.log",
        "2024-01-01T10:00:02.500000+00:00 web1 hardening-log-marker: host=web1 sent=1704103200.5",
        "#host=db1",
        "#end",
    ]
    fact = CentralLogs().process(output)
    assert fact["hosts"]["web1"]["marker_received"] == pytest.approx(1704103202.5)
    assert fact["hosts"]["web1"]["marker_sent"] == pytest.approx(1704103200.5)
    assert fact["hosts"]["db1"]["marker_sent"] is None


def test_rotation_review_journal_backup_parsers() -> None:
    rotation = LogRotation().process(
        ["/var/log/hardening-central/*/*.log {", "    daily", "    rotate 30", "compress", "}"]
    )
    assert rotation == [
        {
            "paths": ["/var/log/hardening-central/*/*.log"],
            "frequency": "daily",
            "rotate": 30,
            "maxage": None,
            "compress": True,
        }
    ]
    review = LogReview().process(["#file=review-2024-01-01.json", '{"units": {}}', "#end"])
    assert review == {"exists": True, "file": "review-2024-01-01.json", "units": {}}
    assert LogReview().process(["#end"]) == {"exists": False}
    assert JournalCounts().process(['{"units": {"a": {"err": 1, "warning": 0}}}'])["units"]
    backups = ConfigBackups().process(
        [
            "#configured",
            "DESTINATION=/var/backups/hardening-config",
            "KEEP_WEEKS=12",
            'PATHS="/etc /usr/local/lib/hardening"',
            "#mode=700",
            "#archive=config-a-2.tar.gz|200.5|10",
            "#archive=config-a-1.tar.gz|100.0|9",
            "#end",
        ]
    )
    assert backups["keep_weeks"] == 12 and backups["paths"][0] == "/etc"
    assert [a["name"] for a in backups["archives"]] == ["config-a-1.tar.gz", "config-a-2.tar.gz"]
    assert "hardening-log-review.timer" in LogTimers().command().get_raw_value()


def context(facts: dict, groups: tuple[str, ...] = ("monitoring",), data=None) -> HostContext:
    return HostContext("tb1", groups, data or {}, lambda cls, **kw: facts[cls])


def healthy(errors: int = 0) -> dict:
    return {
        LogForwarding: forwarding_fact(),
        LogTimers: {name: TIMER for name in ("hardening-log-marker", "hardening-log-review")}
        | {"hardening-config-backup": TIMER},
        CentralLogs: {
            "exists": True,
            "hosts": {"tb1": {"files": [], "marker_sent": NOW - 5, "marker_received": NOW - 4}},
        },
        LogRotation: LogRotation().process(
            ["/var/log/hardening-central/*/*.log {", "daily", "rotate 30", "}"]
        ),
        LogReview: {"exists": True, "file": "review-x.json", "generated": NOW, "units": {}},
        JournalCounts: {"since": "-1h", "units": {"nginx.service": {"err": errors, "warning": 0}}},
        ConfigBackups: {
            "configured": True,
            "destination": "/var/backups/hardening-config",
            "keep_weeks": 12,
            "paths": ["/etc"],
            "destination_mode": "700",
            "archives": [{"name": "config-tb1-x.tar.gz", "time": NOW - 3600, "size": 1}],
        },
    }


NAMES = (
    "logs.forwarding",
    "logs.retention",
    "dr.rpo_logs",
    "logs.daily_review",
    "logs.backend_errors",
    "logs.warnings_errors",
    "logs.error_review",
    "config_backup.retention",
)


def test_healthy_log_host_passes_everything() -> None:
    for name in NAMES:
        outcome = CHECKS[name](context(healthy()))
        assert outcome.status is Status.PASS, (name, outcome)


def test_backend_error_fails_and_other_host_defers_to_log_host() -> None:
    outcome = CHECKS["logs.backend_errors"](context(healthy(errors=2)))
    assert outcome.status is Status.FAIL and "nginx.service: 2 err" in outcome.evidence
    sender = context(healthy(), groups=("web",))
    assert CHECKS["dr.rpo_logs"](sender).status is Status.NOT_APPLICABLE
    assert CHECKS["logs.forwarding"](sender).status is Status.PASS


def test_slow_marker_and_short_retention_fail() -> None:
    facts = healthy()
    facts[CentralLogs]["hosts"]["tb1"]["marker_received"] = NOW
    facts[CentralLogs]["hosts"]["tb1"]["marker_sent"] = NOW - 900
    assert CHECKS["dr.rpo_logs"](context(facts)).status is Status.FAIL
    facts[ConfigBackups]["keep_weeks"] = 4
    outcome = CHECKS["config_backup.retention"](context(facts))
    assert outcome.status is Status.FAIL and "below 12 weeks" in outcome.evidence
