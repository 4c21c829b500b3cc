"""Secrets end to end on real hosts with a real OpenBao (dev server) on the control node.

Fresh hosts fail SEC-10/SEC-08; deploys/secrets.py generates credentials into OpenBao
first and applies them (PostgreSQL A/B roles, Redis ACL users); a second run changes
nothing; a rotation under a client loop that reads the current credential from OpenBao
before every connection sees 0 failed logins; a rotation crashed at every step boundary
resumes; bad tokens / addresses fail in one line and change nothing; no secret value
appears in any output, log or sampled argv.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import threading
import time
from pathlib import Path

import hvac
import pytest

from hardening.rotation import PostgresAB, RedisAcl, RotationError, rotate
from hardening.secrets import backend_from_config
from hardening.testbed.lifecycle import ssh_argv
from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes, statuses

POLICY = 'path "secret/data/hardening/*" { capabilities = ["create", "read", "update"] }\n'
POLICY += 'path "secret/metadata/hardening/*" { capabilities = ["read", "list"] }\n'
READ_POLICY = 'path "secret/data/hardening/*" { capabilities = ["read"] }\n'
GRACE = 6


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def bao(tmp_path_factory):
    """OpenBao dev server on all addresses, a toolkit token and a read-only app token."""
    root, port = secrets.token_hex(16), _free_port()
    log = tmp_path_factory.mktemp("bao") / "bao.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                "bao",
                "server",
                "-dev",
                f"-dev-root-token-id={root}",
                f"-dev-listen-address=0.0.0.0:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        client = hvac.Client(url=f"http://127.0.0.1:{port}", token=root)
        for _ in range(50):
            try:
                if client.sys.is_initialized():
                    break
            except Exception:
                time.sleep(0.2)
        client.sys.create_or_update_policy("hardening", POLICY)
        client.sys.create_or_update_policy("app-read", READ_POLICY)
        toolkit = client.auth.token.create_orphan(policies=["hardening"], period="1h")
        app = client.auth.token.create_orphan(policies=["app-read"], period="1h")
        yield {
            "port": port,
            "root": root,
            "token": toolkit["auth"]["client_token"],
            "app_token": app["auth"]["client_token"],
            "log": log,
        }
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def bed(module_bed, bao):
    state = Path(module_bed.env["HARDENING_TESTBED_STATE"]) / "inventory.json"
    document = json.loads(state.read_text())
    config = {"type": "vault", "address": f"http://127.0.0.1:{bao['port']}"}
    for entry in document["hosts"]:
        entry["data"].update(secrets_backend=config, rotation_grace_seconds=GRACE)
    state.write_text(json.dumps(document))
    module_bed.env["VAULT_TOKEN"] = bao["token"]
    module_bed.outputs = []  # every captured output, grepped for secrets at the end
    module_bed.config = config
    return module_bed


def _pyinfra(bed, *args):
    done = bed.pyinfra(*args)
    bed.outputs.append(done.stdout + done.stderr)
    return done


def _values(bao) -> list[str]:
    client = hvac.Client(url=f"http://127.0.0.1:{bao['port']}", token=bao["root"])
    found = []
    for name in ("tb1/postgres-app", "tb1/redis-app", "tb1/redis-default"):
        data = client.secrets.kv.v2.read_secret_version(
            path=f"hardening/{name}", raise_on_deleted_version=False
        )["data"]["data"]
        for stage in ("current", "previous", "pending"):
            if data.get(stage):
                found.append(json.loads(data[stage])["password"])
    return found


def test_fresh_hosts_fail_backend_and_rotation(bed, tmp_path) -> None:
    _, report = audit_json(bed, tmp_path)
    found = statuses(report)
    for host in ("tb1", "tb2"):
        assert found[(host, "SEC-10")] == "fail", evidence(report, host, "SEC-10")
    assert found[("tb1", "SEC-01")] == "fail"
    assert "no credentials of this host" in evidence(report, "tb1", "SEC-10")


def test_bad_token_and_unreachable_backend_fail_in_one_line(bed) -> None:
    before = bed.run("tb1", "md5sum /etc/redis/redis.conf; ls /etc/hardening 2>&1; true")
    good = bed.env["VAULT_TOKEN"]
    bed.env["VAULT_TOKEN"] = "s.not-a-valid-token"
    try:
        denied = _pyinfra(bed, "deploys/secrets.py", "--limit", "tb1")
    finally:
        bed.env["VAULT_TOKEN"] = good
    assert denied.returncode != 0
    assert "denied the token" in denied.stdout + denied.stderr
    after = bed.run("tb1", "md5sum /etc/redis/redis.conf; ls /etc/hardening 2>&1; true")
    assert after == before


def test_deploy_stores_first_then_applies_and_is_idempotent(bed, tmp_path) -> None:
    first = _pyinfra(bed, "deploys/secrets.py")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert pyinfra_changes(first) > 0
    _, report = audit_json(bed, tmp_path)
    found = statuses(report)
    for host in ("tb1", "tb2"):
        for item in ("SEC-01", "SEC-10"):
            assert found[(host, item)] == "pass", (host, item, evidence(report, host, item))
    assert found[("tb1", "SEC-08")] == "pass", evidence(report, "tb1", "SEC-08")
    assert "postgres-app" in evidence(report, "tb1", "SEC-10")
    second = _pyinfra(bed, "deploys/secrets.py", "-v")
    assert pyinfra_changes(second) == 0, second.stdout[-3000:]
    assert bed.run("tb1", "stat -c %a:%U /etc/redis/hardening-auth.conf").strip() == "640:redis"


CLIENT = r"""
import json, os, subprocess, sys, time, urllib.request
addr, token, seconds = sys.argv[1], open('/root/app-token').read().strip(), float(sys.argv[2])
def current(name):
    req = urllib.request.Request(f"{addr}/v1/secret/data/hardening/tb1/{name}",
                                 headers={"X-Vault-Token": token})
    return json.loads(json.loads(urllib.request.urlopen(req, timeout=5).read())["data"]["data"]["current"])
counts = {"pg_ok": 0, "pg_fail": 0, "redis_ok": 0, "redis_fail": 0}
end = time.monotonic() + seconds
while time.monotonic() < end:
    pg = current("postgres-app")
    done = subprocess.run(["psql", "-XAtqw", "-h", "127.0.0.1", "-U", pg["username"], "-d", "postgres",
                           "-c", "SELECT 1"], env={**os.environ, "PGPASSWORD": pg["password"]},
                          capture_output=True, text=True)
    counts["pg_ok" if done.stdout.strip() == "1" else "pg_fail"] += 1
    rd = current("redis-app")
    done = subprocess.run(["redis-cli", "--no-auth-warning", "--user", "app", "PING"],
                          env={**os.environ, "REDISCLI_AUTH": rd["password"]}, capture_output=True, text=True)
    counts["redis_ok" if done.stdout.strip() == "PONG" else "redis_fail"] += 1
    time.sleep(0.1)
print(json.dumps(counts))
"""


def _sample_argv(bed, stop: threading.Event, samples: list[str]) -> None:
    while not stop.is_set():
        samples.append(bed.ssh("tb1", "ps -eo args", timeout=20).stdout)
        samples.append(subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout)
        time.sleep(0.5)


def test_rotation_under_load_has_zero_failed_logins(bed, bao) -> None:
    bed.run("tb1", f"umask 077; printf %s {bao['app_token']} > /root/app-token")
    bed.run("tb1", f"cat > /root/client.py <<'PY'\n{CLIENT}\nPY")
    before = bed.run("tb1", "cat /etc/hardening/secrets-backend.json")
    gateway = bed.hosts[0].gateway
    client = subprocess.Popen(
        ssh_argv(
            bed.bed.config,
            bed.hosts[0].address,
            f"python3 /root/client.py http://{gateway}:{bao['port']} 20",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stop, samples = threading.Event(), []
    sampler = threading.Thread(target=_sample_argv, args=(bed, stop, samples))
    sampler.start()
    time.sleep(2)
    started = time.monotonic()
    rotated = _pyinfra(
        bed, "deploys/rotate_credentials.py", "--limit", "tb1", "--data", "rotation_force=True"
    )
    rotation_seconds = time.monotonic() - started
    assert rotated.returncode == 0, rotated.stdout[-3000:] + rotated.stderr[-3000:]
    assert "stage -> apply -> test -> promote" in rotated.stdout
    time.sleep(GRACE + 1)
    revoked = _pyinfra(bed, "deploys/rotate_credentials.py", "--limit", "tb1")
    assert revoked.returncode == 0, revoked.stdout[-3000:]
    assert "revoke" in revoked.stdout
    out, err = client.communicate(timeout=60)
    stop.set()
    sampler.join()
    counts = json.loads(out.strip().splitlines()[-1])
    print(f"\nrotation (OpenBao, PostgreSQL+Redis): {rotation_seconds:.1f} s, client: {counts}")
    assert counts["pg_fail"] == 0 and counts["redis_fail"] == 0, (counts, err)
    assert counts["pg_ok"] > 50 and counts["redis_ok"] > 50
    after = json.loads(bed.run("tb1", "cat /etc/hardening/secrets-backend.json"))
    assert after != json.loads(before)
    assert after["credentials"]["postgres-app"]["username"] == "app_b"
    roles = bed.run(
        "tb1",
        "runuser -u postgres -- psql -XAtc "
        "\"SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'app%' ORDER BY 1\"",
    )
    assert roles.split() == ["app|f", "app_a|f", "app_b|t"]
    bed.outputs.extend(samples)


class SshRunner:
    def __init__(self, bed) -> None:
        self.bed = bed

    def run(self, command: str, stdin: str | None = None) -> tuple[bool, str]:
        done = subprocess.run(
            ssh_argv(self.bed.bed.config, self.bed.hosts[0].address, command),
            input=(stdin or "") + "\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.bed.outputs.append(done.stdout + done.stderr)
        return done.returncode == 0, done.stdout


def test_crash_at_every_step_resumes_without_losing_a_credential(bed, bao, monkeypatch) -> None:
    monkeypatch.setenv("VAULT_TOKEN", bao["token"])
    backend = backend_from_config(bed.config)
    admin = backend.load("tb1/redis-default").current["password"]
    runner = SshRunner(bed)
    for kind, driver in (("postgres-app", PostgresAB()), ("redis-app", RedisAcl(admin))):
        name = f"tb1/{kind}"
        for crash_at in ("stage", "apply", "test", "promote"):

            def crash(step: str, crash_at=crash_at) -> None:
                if step == crash_at:
                    raise RotationError(f"simulated crash before {step}")

            before = backend.load(name)
            with pytest.raises(RotationError):
                rotate(
                    backend,
                    name,
                    driver,
                    runner,
                    grace_seconds=0,
                    interval_days=30,
                    force=True,
                    on_step=crash,
                )
            mid = backend.load(name)
            # the current credential still logs in; at most one pending exists
            assert driver.login(runner, mid.current), (kind, crash_at)
            assert mid.current == before.current
            done = rotate(
                backend,
                name,
                driver,
                runner,
                grace_seconds=0,
                interval_days=30,
                force=crash_at == "stage",
            )
            assert driver.login(runner, done.record.current), (kind, crash_at)
            assert done.record.current != before.current
            if crash_at != "stage":
                assert done.record.current == mid.pending  # rolled forward, nothing generated
            assert not driver.login(runner, before.current), (kind, crash_at)  # revoked


def test_aws_secrets_manager_backend_deploy_and_rotation(bed, tmp_path, monkeypatch) -> None:
    port = _free_port()
    moto = subprocess.Popen(
        ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(2)
        state = Path(bed.env["HARDENING_TESTBED_STATE"]) / "inventory.json"
        document = json.loads(state.read_text())
        config = {"type": "aws", "endpoint_url": f"http://127.0.0.1:{port}"}
        for entry in document["hosts"]:
            entry["data"]["secrets_backend"] = config
        state.write_text(json.dumps(document))
        bed.env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
        )
        first = _pyinfra(bed, "deploys/secrets.py", "--limit", "tb1")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        _, report = audit_json(bed, tmp_path, "--limit", "tb1")
        assert statuses(report)[("tb1", "SEC-10")] == "pass", evidence(report, "tb1", "SEC-10")
        assert "aws secretsmanager" in evidence(report, "tb1", "SEC-10")
        started = time.monotonic()
        rotated = _pyinfra(
            bed, "deploys/rotate_credentials.py", "--limit", "tb1", "--data", "rotation_force=True"
        )
        seconds = time.monotonic() - started
        assert rotated.returncode == 0, rotated.stdout[-3000:] + rotated.stderr[-3000:]
        print(f"\nrotation (AWS Secrets Manager/moto, PostgreSQL+Redis): {seconds:.1f} s")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        backend = backend_from_config(config)
        runner = SshRunner(bed)
        record = backend.load("tb1/postgres-app")
        assert record.previous and PostgresAB().login(runner, record.current)
        assert PostgresAB().login(runner, record.previous)  # grace period: both log in
        second = _pyinfra(bed, "deploys/secrets.py", "--limit", "tb1")
        assert pyinfra_changes(second) == 0, second.stdout[-3000:]
    finally:
        moto.kill()
        moto.wait()
        for entry in document["hosts"]:
            entry["data"]["secrets_backend"] = bed.config
        state.write_text(json.dumps(document))


def test_no_secret_value_anywhere(bed, bao, tmp_path) -> None:
    outputs = list(bed.outputs)
    outputs.append(_pyinfra(bed, "deploys/secrets.py", "-vvv", "--diff").stdout)
    audit = bed.hardening("audit", bed.inventory, "--format", "json")
    outputs += [audit.stdout, audit.stderr]
    outputs.append(
        bed.run(
            "tb1",
            "journalctl --no-pager -o cat; cat /var/log/postgresql/*.log "
            "/var/log/redis/*.log 2>/dev/null; true",
        )
    )
    outputs.append(
        bed.run(
            "tb1",
            "grep -rl . /etc /var/lib/hardening 2>/dev/null | head -0; "
            "cat /etc/redis/hardening-auth.conf /etc/hardening/*",
        )
    )
    outputs.append(bao["log"].read_text())
    values = _values(bao)
    assert len(values) >= 3
    for value in values:
        for text in outputs:
            assert value not in text
