"""An S3 service on the control node for tests: moto_server behind TLS (socat), by PID.

pgBackRest reaches S3 over HTTPS only, and ``moto_server -s`` fails its TLS handshake, so a
plain-HTTP ``moto_server`` on loopback gets ``socat OPENSSL-LISTEN`` in front of it with a
certificate from a throwaway CA (made with ``cryptography``). Both listen on free ports;
socat binds 0.0.0.0 so every test host reaches it at its gateway address. Use the fixture::

    from s3_fixture import s3_service  # noqa: F401  (pytest fixture)

    def test_x(s3_service):
        s3_service.port, s3_service.ca_pem, s3_service.key, s3_service.secret
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        return probe.getsockname()[1]


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca_and_cert(addresses: list[str]) -> tuple[bytes, bytes]:
    """(CA certificate PEM, server key+certificate PEM) for ``addresses`` (IP SANs)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("hardening test CA"))
        .issuer_name(_name("hardening test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    # pgBackRest matches the endpoint against DNS names only, so IPs are named both ways
    sans: list[x509.GeneralName] = [x509.DNSName(address) for address in addresses]
    sans += [x509.IPAddress(ipaddress.ip_address(address)) for address in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(addresses[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return ca.public_bytes(serialization.Encoding.PEM), key_pem + cert.public_bytes(
        serialization.Encoding.PEM
    )


def _wait_for(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclass
class S3Service:
    """moto_server + TLS terminator; ``port`` is the HTTPS port (on every address)."""

    workdir: Path
    addresses: list[str]
    port: int = 0
    moto_port: int = 0
    key: str = field(default_factory=lambda: "AKIA" + secrets.token_hex(8).upper())
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    ca_file: Path = Path()
    _procs: list[subprocess.Popen] = field(default_factory=list)

    def start(self) -> S3Service:
        if not shutil.which("moto_server") or not shutil.which("socat"):
            pytest.skip("moto_server or socat is not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        ca_pem, server_pem = make_ca_and_cert(self.addresses + ["127.0.0.1"])
        self.ca_file = self.workdir / "ca.pem"
        self.ca_file.write_bytes(ca_pem)
        pem = self.workdir / "server.pem"
        pem.write_bytes(server_pem)
        pem.chmod(0o600)
        self.moto_port, self.port = free_port(), free_port()
        log = (self.workdir / "s3.log").open("ab")
        self._procs.append(
            subprocess.Popen(
                ["moto_server", "-H", "127.0.0.1", "-p", str(self.moto_port)],
                stdout=log,
                stderr=log,
            )
        )
        _wait_for(self.moto_port)
        self._procs.append(
            subprocess.Popen(
                [
                    "socat",
                    f"OPENSSL-LISTEN:{self.port},fork,reuseaddr,cert={pem},verify=0",
                    f"TCP:127.0.0.1:{self.moto_port}",
                ],
                stdout=log,
                stderr=log,
            )
        )
        _wait_for(self.port)
        return self

    def stop(self) -> None:
        for proc in reversed(self._procs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._procs.clear()

    def create_bucket(self, name: str) -> None:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.moto_port}",
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            region_name="us-east-1",
        ).create_bucket(Bucket=name)


@pytest.fixture(scope="module")
def s3_service(module_bed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Service]:
    """moto S3 over TLS reachable from the module bed's hosts at their gateway addresses."""
    service = S3Service(
        tmp_path_factory.mktemp("s3"), sorted({host.gateway for host in module_bed.hosts})
    ).start()
    try:
        yield service
    finally:
        service.stop()
