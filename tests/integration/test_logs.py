"""Logs end to end on real hosts: fresh hosts fail the log items, deploys/logs.py makes them
pass (RELP over TLS to tb1 with the internal CA's certificates, markers arrive, retention,
review and config backup timers), SEC-03 sees 2514 as TLS, a plaintext or certificate-less
RELP client is refused, a rerun changes nothing, a backend error fails DEP-02, and no secret
leaves a host."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes, statuses
from tests.integration.textfile_helpers import (
    alert_passes_with_data,
    node_samples,
    wait_for_series,
)

ITEMS = (
    "INF-06",
    "DR-BAK-02",
    "DR-RPO-02",
    "DR-BAK-03",
    "OPS-D-02",
    "DEP-02",
    "POST-05",
    "STAB-03",
)
#: Satisfied on tb2 by the log host tb1 (retention and delay are judged there).
ON_LOG_HOST = ("DR-BAK-02", "DR-RPO-02")
SECRET = secrets.token_hex(16)
TB = ("tb1", "tb2")
#: A RELP ``open`` frame: a RELP server answers ``1 rsp ... 200 OK`` to an accepted client.
RELP_OPEN = "1 open 30 relp_version=0\\ncommands=syslog\\n"
CERT = "-cert /etc/ssl/hardening/rsyslog.crt -key /etc/ssl/hardening/rsyslog.key"


@pytest.fixture(scope="module")
def bed(module_bed, tmp_path_factory):
    module_bed.env["HARDENING_PKI_DIR"] = str(tmp_path_factory.mktemp("pki"))
    module_bed.run(
        "tb1", f"install -m 0600 /dev/null /etc/app-secret && echo {SECRET} > /etc/app-secret"
    )
    return module_bed


def _key_body(bed, host: str) -> str:
    """40 base64 characters of the private scalar of a host's rsyslog key (PKCS#8 P-256: it
    follows a 48-character header every such key shares), to grep outputs for."""
    lines = bed.run(host, "cat /etc/ssl/hardening/rsyslog.key").splitlines()
    return "".join(line for line in lines if not line.startswith("-----"))[48:88]


def _found(bed, tmp_path: Path) -> tuple[dict, dict]:
    _, report = audit_json(bed, tmp_path)
    return statuses(report), report


def test_fresh_hosts_fail(bed, tmp_path: Path) -> None:
    found, report = _found(bed, tmp_path)
    for host in ("tb1", "tb2"):
        for item in ITEMS:
            assert found[(host, item)] == "fail", (host, item, evidence(report, host, item))


def _journal_entries_are_counted(bed) -> None:
    """MON-INFO-04's data: every host's counter of journal entries grows (monotonic) and the
    host's Prometheus (Debian's default configuration scrapes the local node exporter) has it."""
    name = 'log_messages_total{source="journal"}'
    for host in TB:
        before = node_samples(bed, host, "log_messages_total")[name]
        bed.run(host, "logger -t hardening-test one; logger -t hardening-test two")
        bed.run(host, "systemctl start hardening-log-volume.service")
        assert node_samples(bed, host, "log_messages_total")[name] >= before + 2
    assert wait_for_series(bed, "tb1", "log_messages_total"), "log_messages_total never scraped"


def test_deploy_makes_items_pass_and_rerun_changes_nothing(bed, tmp_path: Path) -> None:
    first = bed.pyinfra("deploys/logs.py")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert pyinfra_changes(first) > 0
    # RELP delivery of tb2's first marker can lag on a loaded machine: wait for it (bounded)
    bed.run(
        "tb1",
        "for i in $(seq 60); do [ -s /var/log/hardening-central/tb2/hardening-log-marker.log ]"
        " && exit 0; sleep 1; done; exit 1",
        timeout=90,
    )
    found, report = _found(bed, tmp_path)
    for host in ("tb1", "tb2"):
        for item in ITEMS:
            wanted = "not_applicable" if host == "tb2" and item in ON_LOG_HOST else "pass"
            assert found[(host, item)] == wanted, (host, item, evidence(report, host, item))
    assert "over RELP/TLS" in evidence(report, "tb2", "INF-06")
    sec03 = evidence(report, "tb1", "SEC-03")
    assert "2514 (tls" in sec03 and "2514" not in sec03.split("plaintext:")[-1], sec03
    assert "tb2: marker delay" in evidence(report, "tb1", "DR-RPO-02")
    assert "rotate 30" in evidence(report, "tb1", "DR-BAK-02")
    central = bed.run("tb1", "ls /var/log/hardening-central/tb2/")
    assert "auth.log" in central and "hardening-log-marker.log" in central
    archive = bed.run("tb1", "ls /var/backups/hardening-config/").split()[0]
    assert bed.run("tb1", f"stat -c %a /var/backups/hardening-config/{archive}").strip() == "600"
    assert "etc/app-secret" in bed.run("tb1", f"tar tzf /var/backups/hardening-config/{archive}")
    _relp_clients_are_checked(bed)
    _journal_entries_are_counted(bed)
    second = bed.pyinfra("deploys/logs.py")
    assert second.returncode == 0, second.stdout[-3000:]
    assert pyinfra_changes(second) == 0, second.stdout[-3000:] + second.stderr[-3000:]
    audit = bed.hardening("audit", bed.inventory, "-v")
    # rsyslog's private keys: root-only files, never in any output
    keys = [bed.run(host, "stat -c '%a %U' /etc/ssl/hardening/rsyslog.key") for host in TB]
    assert [k.strip() for k in keys] == ["600 root", "600 root"]
    key_bodies = [_key_body(bed, host) for host in TB]
    for done in (first, second, audit):
        assert SECRET not in done.stdout + done.stderr
        assert not any(body in done.stdout + done.stderr for body in key_bodies)


def _relp_answer(bed, options: str | None) -> str:
    """What tb1's RELP port answers tb2's ``open`` frame: over TLS with s_client ``options``,
    or in plaintext (``options`` None)."""
    tb1 = bed.hosts[0].address
    if options is None:
        client = (
            "python3 -c 'import socket,sys; s=socket.create_connection((sys.argv[1], 2514));"
            f" s.sendall(sys.stdin.buffer.read()); print(s.recv(200))' {tb1}"
        )
    else:
        client = f"openssl s_client -quiet {options} -connect {tb1}:2514 2>/dev/null"
    return bed.ssh("tb2", f"(printf '{RELP_OPEN}'; sleep 2) | timeout 6 {client}").stdout


def _relp_clients_are_checked(bed) -> None:
    """tb2 with its certificate gets ``200 OK``; without a certificate or without TLS: nothing."""
    assert bed.hosts[0].name == "tb1"
    handshake = bed.ssh(
        "tb2", f"timeout 6 openssl s_client -connect {bed.hosts[0].address}:2514 </dev/null"
    )
    assert "CN = tb1" in handshake.stdout + handshake.stderr
    assert "200 OK" in _relp_answer(bed, CERT)
    assert "rsp" not in _relp_answer(bed, "")
    assert "rsp" not in _relp_answer(bed, None)


def test_backend_error_fails_dep02(bed, tmp_path: Path) -> None:
    bed.run(
        "tb2",
        # an error on the service's own output stream, as a real backend logs it (a syslog
        # line from a short-lived `logger` is not always attributed to the unit)
        "systemd-run --quiet --wait --unit=hardening-demo-app"
        " sh -c \"echo '<3>test failure'; sleep 1\"",
    )
    for _ in range(5):  # journald may index the line a moment later on a loaded machine
        found, report = _found(bed, tmp_path)
        if found[("tb2", "DEP-02")] == "fail":
            break
        time.sleep(2)
    assert found[("tb2", "DEP-02")] == "fail", evidence(report, "tb2", "DEP-02")
    assert "hardening-demo-app.service: 1 err" in evidence(report, "tb2", "DEP-02")
    assert found[("tb1", "DEP-02")] == "pass"


def test_log_volume_alert_has_data_once_monitoring_is_deployed(bed, tmp_path: Path) -> None:
    """MON-INFO-04 end to end: with the journal counters deployed, the monitoring host's
    Prometheus (deploys/monitoring.py) has log_messages_total and the item passes with it."""
    alert_passes_with_data(bed, tmp_path, "MON-INFO-04", "LogVolumeAnomaly")
