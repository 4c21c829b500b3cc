"""nginx TLS end to end (SEC-03, issue 6 part 2): on a fresh host port 80 serves plaintext;
``deploys/web.py`` with ``web_tls`` puts the site on 443 (internal CA, Mozilla intermediate,
HSTS) and makes port 80 redirect; testssl.sh and sslyze verify the protocols from the control
node; a rerun changes nothing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes, statuses

INVENTORY = """
from hardening.testbed import load_inventory

_groups = load_inventory()
web = [(name, {**data, "web_tls": True}) for name, data in _groups["web"]]
db_primary = _groups["db_primary"]
db_replica = _groups["db_replica"]
cache = _groups["cache"]
monitoring = _groups["monitoring"]
"""


@pytest.fixture(scope="module")
def bed(module_bed, tmp_path_factory):
    inventory = tmp_path_factory.mktemp("tlsweb") / "inventory.py"
    inventory.write_text(INVENTORY)
    module_bed.inventory = str(inventory)
    module_bed.env["HARDENING_PKI_DIR"] = str(tmp_path_factory.mktemp("pki"))
    return module_bed


def _sec03(bed, tmp_path: Path) -> str:
    _, report = audit_json(bed, tmp_path, "--limit", "tb1")
    return evidence(report, "tb1", "SEC-03")


def _curl(bed, *args: str) -> str:
    ca = Path(bed.env["HARDENING_PKI_DIR"]) / "ca.crt"
    cmd = ["curl", "-s", "-m", "5", "--cacert", str(ca), "-o", "/dev/null", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout


def test_nginx_tls(bed, tmp_path: Path) -> None:
    tb1 = bed.hosts[0]
    before = _sec03(bed, tmp_path)
    assert "80 (redirects to https)" not in before and "443" not in before, before

    done = bed.pyinfra("deploys/web.py")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "PRIVATE KEY" not in done.stdout + done.stderr
    assert bed.run("tb1", "stat -c '%a %U' /etc/ssl/hardening/nginx.key").strip() == "600 root"
    after = _sec03(bed, tmp_path)
    assert "80 (redirects to https)" in after and "443 (tls, expires " in after, after
    plaintext = after.split("plaintext: ", 1)[1]
    assert not {"80", "443"} & set(plaintext.split(";")[0].split(", ")), after

    redirect = _curl(bed, "-w", "%{http_code} %{redirect_url}", f"http://{tb1.address}/x?y=1")
    assert redirect == f"301 https://{tb1.address}/x?y=1", redirect
    headers = _curl(bed, "-D", "-", f"https://{tb1.address}/").lower()
    assert "strict-transport-security: max-age=63072000\n" in headers, headers

    metrics = _curl(bed, "-w", "%{http_code}", f"https://{tb1.address}/metrics")
    assert metrics == "403", metrics

    _sslyze(tb1.address)
    _testssl(tb1.address)

    again = bed.pyinfra("deploys/web.py")
    assert again.returncode == 0 and pyinfra_changes(again) == 0, again.stdout[-3000:]


#: Web items whose probe goes through nginx: judged over https once ``web_tls`` is on.
WEB_ITEMS = ("FE-05", "FE-06", "INF-04")


def test_web_checks_follow_tls(bed, tmp_path: Path) -> None:
    done = bed.pyinfra("deploys/app.py")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    _, report = audit_json(bed, tmp_path, "--limit", "tb1")
    found = {item: statuses(report)[("tb1", item)] for item in WEB_ITEMS}
    details = {item: evidence(report, "tb1", item) for item in WEB_ITEMS}
    assert set(found.values()) == {"pass"}, (found, details)


def _sslyze(address: str) -> None:
    from sslyze import (
        ScanCommand,
        Scanner,
        ServerNetworkLocation,
        ServerScanRequest,
    )

    commands = {
        ScanCommand.TLS_1_0_CIPHER_SUITES,
        ScanCommand.TLS_1_1_CIPHER_SUITES,
        ScanCommand.TLS_1_2_CIPHER_SUITES,
        ScanCommand.TLS_1_3_CIPHER_SUITES,
    }
    scanner = Scanner()
    scanner.queue_scans(
        [ServerScanRequest(ServerNetworkLocation(address, 443), scan_commands=commands)]
    )
    [result] = list(scanner.get_results())
    attempts = result.scan_result
    assert attempts is not None, result.connectivity_error_trace
    accepted = {
        name: getattr(attempts, name).result.accepted_cipher_suites
        for name in (
            "tls_1_0_cipher_suites",
            "tls_1_1_cipher_suites",
            "tls_1_2_cipher_suites",
            "tls_1_3_cipher_suites",
        )
    }
    assert not accepted["tls_1_0_cipher_suites"] and not accepted["tls_1_1_cipher_suites"]
    assert accepted["tls_1_2_cipher_suites"] and accepted["tls_1_3_cipher_suites"]


def _testssl(address: str) -> None:
    testssl = shutil.which("testssl") or shutil.which("testssl.sh")
    if not testssl:
        pytest.fail("testssl.sh is not installed (scripts/setup.sh installs it)")
    out = subprocess.run(
        [
            testssl,
            "--quiet",
            "--color",
            "0",
            "--warnings",
            "batch",
            "-p",
            "-U",
            "--connect-timeout",
            "5",
            "--openssl-timeout",
            "5",
            f"{address}:443",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    ).stdout
    lines = out.splitlines()
    assert not [line for line in lines if "NOT ok" in line or "VULNERABLE" in line], out
    for protocol in ("TLS 1 ", "TLS 1.1 "):
        [line] = [line for line in lines if line.strip().startswith(protocol)]
        assert "not offered" in line, out
