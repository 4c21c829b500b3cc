"""The bed's control-node services (OpenBao dev server, S3 on moto behind TLS), for real; the
inventory data they give makes OpenBao's PKI engine the hosts' certificate issuer."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import ssl
import stat
from pathlib import Path

import pytest

from hardening.pki import certificates, describe, issuer_from_data
from hardening.settings import validate_host_data
from hardening.testbed.config import BedConfig
from hardening.testbed.services import BUCKET, start_services, stop_services


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("bao", "moto_server", "socat")),
    reason="bao, moto_server or socat not installed (scripts/setup.sh installs them)",
)
def test_services_start_point_the_inventory_and_stop_by_pid(tmp_path) -> None:
    import hvac

    config = BedConfig.from_env({"HARDENING_TESTBED_STATE": str(tmp_path / "state")})
    config.state_dir.mkdir(parents=True)
    services = start_services(config, ["127.0.0.1"])
    try:
        token_file = services.bao.token_file
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert stat.S_IMODE((config.state_dir / "services").stat().st_mode) == 0o700
        token = token_file.read_text().strip()
        client = hvac.Client(url=services.bao.address, token=token)
        client.secrets.kv.v2.create_or_update_secret(path="hardening/probe", secret={"v": "1"})
        assert client.secrets.kv.v2.read_secret_version(
            path="hardening/probe", raise_on_deleted_version=True
        )["data"]["data"]
        # the token is limited to the toolkit's paths
        with pytest.raises(hvac.exceptions.Forbidden):
            client.secrets.kv.v2.read_secret_version(path="other/x", raise_on_deleted_version=True)

        # the bucket exists behind TLS that verifies against the bed's CA
        context = ssl.create_default_context(cafile=str(services.s3.ca_file))
        https = http.client.HTTPSConnection("127.0.0.1", services.s3.port, context=context)
        https.request("HEAD", f"/{BUCKET}")
        assert https.getresponse().status == 200
        https.close()

        data = services.host_data("10.77.1.1")
        assert data["secrets_backend"]["token_file"] == str(token_file)
        assert token not in json.dumps(data)  # the inventory names the file, not the token
        assert data["backup_s3_endpoint"] == "10.77.1.1"
        # every certificate of the bed's hosts comes from OpenBao's PKI engine
        assert validate_host_data(data) == []
        issuer = issuer_from_data(data)
        assert issuer.ca_pem().strip() == services.bao.ca_file.read_text().strip()
        pair = issuer.issue(["tb1", "10.77.1.2"], 1)
        issued = describe(pair.cert_pem)
        assert "OpenBao" in issued["issuer"], issued
        assert certificates(pair.cert_pem)[0].issuer == certificates(issuer.ca_pem())[0].subject
        pids = json.loads((config.state_dir / "services.json").read_text())["pids"]
        assert len(pids) == 3
    finally:
        stop_services(config)
    assert not _listening(services.bao.port) and not _listening(services.s3.port)
    for pid in pids:  # gone, or a zombie this test process has not reaped
        status = Path(f"/proc/{pid}/status")
        assert not status.exists() or "zombie" in status.read_text().lower()
    assert not (config.state_dir / "services").exists()
    stop_services(config)  # nothing recorded any more: a no-op
