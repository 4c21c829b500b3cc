"""TLS with the internal CA on real hosts: PostgreSQL verify-full from the other host, Redis
over TLS, plaintext remote PostgreSQL refused, a short-lived certificate replaced without a
failed request, a broken CA leaves everything in place, and no key material in any output."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest

from hardening.testbed.lifecycle import ssh_argv
from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes, statuses

CA = "/usr/local/share/ca-certificates/hardening-ca.crt"
PG_CERT = "/etc/ssl/hardening/postgresql.crt"
ROLE = "tls_probe"


@pytest.fixture(scope="module")
def bed(module_bed, tmp_path_factory: pytest.TempPathFactory):
    module_bed.env["HARDENING_PKI_DIR"] = str(tmp_path_factory.mktemp("pki"))
    return network_clients(module_bed, ROLE)


def network_clients(bed, role: str):
    """What postgres_hardening would have done (PostgreSQL on tb1 listens on the network) and
    a login ``role`` with a random password (``bed.password``); ``bed.tb1``, ``bed.outputs``."""
    bed.password = secrets.token_hex(16)
    bed.run(
        "tb1",
        "runuser -u postgres -- psql -XAtqc \"ALTER SYSTEM SET listen_addresses = '*'\""
        " && systemctl restart postgresql@15-main",
    )
    created = stdin_ssh(
        bed,
        "tb1",
        "runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1",
        f"CREATE ROLE {role} LOGIN PASSWORD '{bed.password}';\n",
    )
    assert created.returncode == 0, created.stderr
    bed.tb1 = bed.hosts[0].address
    bed.outputs = []
    return bed


def stdin_ssh(bed, host: str, command: str, text: str, **kwargs):
    """Run ``command`` on ``host`` with ``text`` on its stdin (secrets never in an argv)."""
    address = next(h.address for h in bed.hosts if h.name == host)
    argv = ssh_argv(bed.bed.config, address, command)
    return subprocess.run(argv, input=text, capture_output=True, text=True, timeout=120, **kwargs)


def psql_from_tb2(bed, sslmode: str) -> subprocess.CompletedProcess:
    dsn = f"sslmode={sslmode} sslrootcert={CA} host={bed.tb1} dbname=postgres user={ROLE}"
    return stdin_ssh(
        bed,
        "tb2",
        f"read -r PGPASSWORD && export PGPASSWORD && psql '{dsn}' -XAtqc 'SHOW ssl'",
        bed.password + "\n",
    )


def deploy(bed, *args: str) -> subprocess.CompletedProcess:
    networks = f'postgres_client_networks=["{bed.hosts[1].address}/32"]'
    done = bed.pyinfra("deploys/tls.py", "--data", networks, *args)
    bed.outputs.append(done.stdout + done.stderr)
    return done


def test_fresh_host_has_no_trusted_tls(bed) -> None:
    assert psql_from_tb2(bed, "verify-full").returncode != 0
    assert bed.ssh("tb1", f"test -e {CA}").returncode != 0


def test_short_lived_certificates_work_and_the_audit_flags_them(bed, tmp_path: Path) -> None:
    done = deploy(bed, "--data", "tls_cert_days=2")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ok = psql_from_tb2(bed, "verify-full")
    assert ok.returncode == 0 and ok.stdout.strip() == "on", ok.stderr
    # hostssl only: a plaintext remote login is refused
    plain = psql_from_tb2(bed, "disable")
    assert plain.returncode != 0 and "no encryption" in plain.stderr, plain.stderr
    pong = bed.run("tb1", f"redis-cli --tls --cacert {CA} -h localhost -p 6380 PING")
    assert pong.strip() == "PONG"
    assert bed.run("tb1", "stat -c '%a %U' /etc/ssl/hardening/postgresql.key").split() == [
        "600",
        "postgres",
    ]
    assert bed.run("tb1", "stat -c '%a %U' /etc/ssl/hardening/redis.key").split() == [
        "600",
        "redis",
    ]
    _, report = audit_json(bed, tmp_path, "--limit", "tb1")
    sec03 = evidence(report, "tb1", "SEC-03")
    assert statuses(report)[("tb1", "SEC-03")] == "fail"
    assert "5432 (tls, expires" in sec03 and "expiring within 30 days: 5432" in sec03, sec03


def client_loop(bed, host: str, probe: str, stdin: str = "\n") -> subprocess.Popen:
    """Run ``probe`` on ``host`` every 0.2 s until /tmp/stop-loop appears (at most 600 times);
    prints ``ok=N fails=M``. The first stdin line is in ``$LINE`` (a password, never argv)."""
    loop = (
        "read -r LINE; rm -f /tmp/stop-loop; ok=0; fails=0; "
        "for i in $(seq 1 600); do [ -e /tmp/stop-loop ] && break; "
        f"if {probe}; then ok=$((ok+1)); else fails=$((fails+1)); fi; sleep 0.2; done;"
        " echo ok=$ok fails=$fails"
    )
    address = next(h.address for h in bed.hosts if h.name == host)
    client = subprocess.Popen(
        ssh_argv(bed.bed.config, address, loop),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    client.stdin.write(stdin)
    client.stdin.flush()
    return client


def loop_counts(bed, host: str, client: subprocess.Popen) -> dict[str, int]:
    bed.run(host, "touch /tmp/stop-loop")
    out, _ = client.communicate(timeout=180)
    return {key: int(value) for key, value in (part.split("=") for part in out.split())}


def served_fingerprint(bed, port: int, starttls: str = "") -> str:
    """SHA-256 of the certificate the endpoint serves now (public data)."""
    return bed.run(
        "tb1",
        f"openssl s_client -connect 127.0.0.1:{port} {starttls} </dev/null 2>/dev/null"
        " | openssl x509 -noout -fingerprint -sha256",
    )


def test_renewal_keeps_serving_then_nothing_changes(bed, tmp_path: Path) -> None:
    before = bed.run("tb1", f"sha256sum {PG_CERT}")
    redis_before = served_fingerprint(bed, 6380)
    redis_pid = bed.run("tb1", "systemctl show -p MainPID --value redis-server")
    dsn = f"sslmode=verify-full sslrootcert={CA} host={bed.tb1} dbname=postgres user={ROLE}"
    pg_probe = f"PGPASSWORD=\"$LINE\" psql '{dsn}' -XAtqc 'SELECT 1' >/dev/null 2>&1"
    redis_probe = (
        f'[ "$(redis-cli --tls --cacert {CA} -h localhost -p 6380 PING 2>/dev/null)" = PONG ]'
    )
    pg_client = client_loop(bed, "tb2", pg_probe, bed.password + "\n")
    redis_client = client_loop(bed, "tb1", redis_probe)
    renewed = deploy(bed, "--diff")
    pg_counts = loop_counts(bed, "tb2", pg_client)
    redis_counts = loop_counts(bed, "tb1", redis_client)
    assert renewed.returncode == 0, renewed.stdout[-3000:] + renewed.stderr[-3000:]
    assert bed.run("tb1", f"sha256sum {PG_CERT}") != before
    assert pg_counts["ok"] > 5 and pg_counts["fails"] == 0, pg_counts
    assert redis_counts["ok"] > 5 and redis_counts["fails"] == 0, redis_counts
    # Redis took the new pair without a restart (CONFIG SET), and serves it
    assert served_fingerprint(bed, 6380) != redis_before
    assert bed.run("tb1", "systemctl show -p MainPID --value redis-server") == redis_pid
    fingerprint = "openssl x509 -noout -fingerprint -sha256 -in /etc/ssl/hardening/redis.crt"
    assert served_fingerprint(bed, 6380) == bed.run("tb1", fingerprint)
    assert served_fingerprint(bed, 5432, "-starttls postgres") == bed.run(
        "tb1", fingerprint.replace("redis", "postgresql")
    )
    # the certificate facts read the live endpoint and the deployed file alike
    facts = bed.pyinfra(
        "--limit", "tb1", "fact", "hardening.facts.certificates.CertificateEndpoint", "port=6380"
    )
    assert "hardening internal CA" in facts.stdout + facts.stderr, facts.stderr[-2000:]
    again = deploy(bed)
    assert again.returncode == 0, again.stdout[-3000:]
    assert pyinfra_changes(again) == 0, again.stdout[-3000:]
    _, report = audit_json(bed, tmp_path, "--limit", "tb1")
    assert "expiring within" not in evidence(report, "tb1", "SEC-03")


def test_broken_ca_changes_nothing(bed) -> None:
    pki = Path(bed.env["HARDENING_PKI_DIR"])
    (pki / "ca.key").rename(pki / "ca.key.aside")
    try:
        before = bed.run("tb1", f"sha256sum {PG_CERT}")
        broken = deploy(bed, "--data", "tls_cert_days=1", "--data", "tls_renew_days=400")
        assert broken.returncode != 0
        assert "CA incomplete" in broken.stdout + broken.stderr
        assert bed.run("tb1", f"sha256sum {PG_CERT}") == before
    finally:
        (pki / "ca.key.aside").rename(pki / "ca.key")
    assert psql_from_tb2(bed, "verify-full").returncode == 0


def test_redis_tls_only_closes_the_plaintext_port(bed) -> None:
    done = deploy(bed, "--data", "redis_tls_only=true")
    assert done.returncode == 0, done.stdout[-3000:]
    assert bed.ssh("tb1", "redis-cli -p 6379 PING").stdout.strip() != "PONG"
    assert bed.run("tb1", f"redis-cli --tls --cacert {CA} -h localhost -p 6380 PING").strip() == (
        "PONG"
    )


def test_no_secret_in_any_output(bed) -> None:
    key = bed.run("tb1", "cat /etc/ssl/hardening/postgresql.key")
    body = "".join(line for line in key.splitlines() if "-----" not in line)
    for output in bed.outputs:
        assert "PRIVATE KEY" not in output
        assert body[:40] not in output
        assert bed.password not in output
