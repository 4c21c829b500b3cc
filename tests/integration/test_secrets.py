"""Secrets end to end on real hosts with a real OpenBao (dev server) on the control node.

Fresh hosts fail SEC-10/SEC-08; deploys/secrets.py generates credentials into OpenBao
first and applies them (PostgreSQL A/B roles, Redis ACL users); a second run changes
nothing; a rotation under a client loop that reads the current credential from OpenBao
before every connection sees 0 failed logins; a rotation crashed at every step boundary
resumes; bad tokens / addresses fail in one line and change nothing; no secret value
appears in any output, log or sampled argv.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
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
    for name in ("tb1/postgres-app", "tb1/redis-app", "tb1/redis-admin", "tb1/jwt-keys"):
        data = client.secrets.kv.v2.read_secret_version(
            path=f"hardening/{name}", raise_on_deleted_version=False
        )["data"]["data"]
        for stage in ("current", "previous", "pending"):
            if data.get(stage):
                value = json.loads(data[stage])
                found.append(value.get("password") or value["key"])
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
while time.monotonic() < end and not os.path.exists('/root/client.stop'):
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


def _start_client(bed, bao, seconds: float) -> subprocess.Popen:
    """The client loop on tb1, reading the current credentials from OpenBao before each login;
    it stops after ``seconds`` or when /root/client.stop exists and prints its counts."""
    bed.run("tb1", f"umask 077; printf %s {bao['app_token']} > /root/app-token")
    bed.run("tb1", f"rm -f /root/client.stop; cat > /root/client.py <<'PY'\n{CLIENT}\nPY")
    return subprocess.Popen(
        ssh_argv(
            bed.bed.config,
            bed.hosts[0].address,
            f"python3 /root/client.py http://{bed.hosts[0].gateway}:{bao['port']} {seconds}",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _client_counts(bed, client: subprocess.Popen, stop: bool = False) -> dict[str, int]:
    """The client's counts (``stop``: now, else when its time is up); asserts 0 failures."""
    if stop:
        bed.run("tb1", "touch /root/client.stop")
    out, err = client.communicate(timeout=90)
    counts = json.loads(out.strip().splitlines()[-1])
    assert counts["pg_fail"] == 0 and counts["redis_fail"] == 0, (counts, err)
    return counts


def test_rotation_under_load_has_zero_failed_logins(bed, bao) -> None:
    before = bed.run("tb1", "cat /etc/hardening/secrets-backend.json")
    client = _start_client(bed, bao, 20)
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
    counts = _client_counts(bed, client)
    stop.set()
    sampler.join()
    print(f"\nrotation (OpenBao, PostgreSQL+Redis): {rotation_seconds:.1f} s, client: {counts}")
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
    admin = backend.load("tb1/redis-admin").current["password"]
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


def _edit_tb1(bed, **data) -> None:
    """Change tb1's data in this module's bed inventory (None: remove a key)."""
    path = Path(bed.env["HARDENING_TESTBED_STATE"]) / "inventory.json"
    document = json.loads(path.read_text())
    for entry in document["hosts"]:
        if entry["name"] == "tb1":
            entry["data"].update(data)
            entry["data"] = {
                key: value for key, value in entry["data"].items() if value is not None
            }
    path.write_text(json.dumps(document))


def _paused_rotation_killed(bed, pause: str, *data: str) -> str:
    """deploys/rotate_credentials.py on tb1 as a subprocess, SIGKILLed where it pauses."""
    command = [sys.executable, "-m", "pyinfra", "-y", bed.inventory]
    command += ["deploys/rotate_credentials.py", "--limit", "tb1"]
    command += [arg for item in data for arg in ("--data", item)]
    proc = subprocess.Popen(
        command,
        cwd=Path(bed.inventory).parents[1],
        env={**bed.env, "HARDENING_ROTATION_PAUSE_AT": pause},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines, watchdog = [], threading.Timer(300, proc.kill)  # never waits for a pause forever
    watchdog.start()
    for line in proc.stdout:
        lines.append(line)
        if line.startswith(f"#paused-at {pause}"):
            break
    watchdog.cancel()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    output = "".join(lines)
    bed.outputs.append(output)
    assert f"#paused-at {pause}" in output, output[-3000:]
    return output


def test_kill_9_at_every_step_loses_no_credential_and_no_login(bed, bao, monkeypatch) -> None:
    """The real deploy, SIGKILLed at each step of each credential, then rerun: the client
    loop (current credentials from OpenBao) sees 0 failed logins; the current value
    always logs in; a killed rotation is rolled forward, never regenerated."""
    monkeypatch.setenv("VAULT_TOKEN", bao["token"])
    backend = backend_from_config(bed.config)
    admin = backend.load("tb1/redis-admin").current["password"]
    drivers = {"tb1/postgres-app": PostgresAB(), "tb1/redis-app": RedisAcl(admin)}
    runner = SshRunner(bed)
    client = _start_client(bed, bao, 900)
    started, kills, unfinished = time.monotonic(), 0, {}
    for name, driver in drivers.items():
        for step in ("stage", "apply", "test", "promote"):
            _paused_rotation_killed(bed, f"{name}:{step}", "rotation_force=True")
            kills += 1
            for other, pending in list(unfinished.items()):  # the run rolled it forward
                assert backend.load(other).current == pending, other
                del unfinished[other]
            mid = backend.load(name)
            assert driver.login(runner, mid.current), (name, step)
            assert bool(mid.pending) == (step != "stage"), (name, step)
            if step == "promote":
                unfinished[name] = mid.pending
    time.sleep(GRACE + 1)
    _paused_rotation_killed(bed, "tb1/postgres-app:revoke")
    kills += 1
    done = _pyinfra(bed, "deploys/rotate_credentials.py", "--limit", "tb1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    seconds = time.monotonic() - started
    for name, pending in unfinished.items():
        assert backend.load(name).current == pending, name
    for name, driver in drivers.items():
        record = backend.load(name)
        assert driver.login(runner, record.current), name
    assert backend.load("tb1/postgres-app").previous_revoked  # the killed revoke was redone
    counts = _client_counts(bed, client, stop=True)
    print(f"\nkill -9 at every step ({kills} kills, {seconds:.0f} s): client {counts}")
    assert counts["pg_ok"] > 20 and counts["redis_ok"] > 20


JWT_FILE = "/etc/hardening-demo-app/jwt-keys.json"
JWT_LIFETIME = 8
APP_PID = "/run/jwt-demo-app.pid"


def _token_status(bed, token: str) -> str:
    """HTTP status of GET /api/session with ``token`` (sent on curl's stdin, not argv)."""
    command = "curl -s -o /dev/null -w '%{http_code}' -H @- http://127.0.0.1:8000/api/session"
    ok, output = SshRunner(bed).run(command, f"Authorization: Bearer {token}")
    return output.strip()


def _new_token(bed) -> tuple[str, str]:
    """(token, kid) of a session from POST /login."""
    headers = bed.run("tb1", "curl -s -D - -o /dev/null -X POST http://127.0.0.1:8000/login")
    cookie = next(line for line in headers.splitlines() if line.lower().startswith("set-cookie"))
    token = cookie.split("session=", 1)[1].split(";", 1)[0]
    header = token.split(".")[0]
    return token, json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def _start_app(bed) -> None:
    """The reference app on tb1 as its user, signing with the keys file (JWT_KEYS_FILE)."""
    code = base64.b64encode((Path(bed.inventory).parents[1] / "examples/app/app.py").read_bytes())
    bed.run("tb1", f"echo {code.decode()} | base64 -d > /usr/local/lib/jwt-demo-app.py")
    bed.run(
        "tb1",
        "nohup runuser -u hardening-demo-app -- env APP_LISTEN=127.0.0.1:8000 "
        f"JWT_KEYS_FILE={JWT_FILE} APP_STATIC_DIR=/tmp python3 /usr/local/lib/jwt-demo-app.py "
        f">/dev/null 2>&1 </dev/null & echo $! > {APP_PID}",
    )
    bed.run(
        "tb1",
        "for i in $(seq 50); do curl -sf http://127.0.0.1:8000/api/items && break; sleep 0.2; done",
    )


def test_jwt_keys_rotate_by_kid_and_old_tokens_verify_until_lifetime(bed, tmp_path) -> None:
    bed.run(
        "tb1",
        "id -u hardening-demo-app >/dev/null 2>&1 || useradd --system hardening-demo-app; "
        "install -d -m 0750 -g hardening-demo-app /etc/hardening-demo-app",  # as deploys/app.py
    )
    _edit_tb1(bed, jwt_keys_file=JWT_FILE, jwt_max_token_lifetime_seconds=JWT_LIFETIME)
    try:
        first = _pyinfra(bed, "deploys/secrets.py", "--limit", "tb1")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        assert "JWT: keys file" in first.stdout + first.stderr and pyinfra_changes(first) > 0
        assert bed.run("tb1", f"stat -c %a:%U {JWT_FILE}").strip() == "600:hardening-demo-app"
        _start_app(bed)
        old, old_kid = _new_token(bed)
        assert _token_status(bed, old) == "200"
        assert _token_status(bed, old[:-2] + "xx") == "401"
        rotated = _pyinfra(
            bed, "deploys/rotate_credentials.py", "--limit", "tb1", "--data", "rotation_force=True"
        )
        assert rotated.returncode == 0, rotated.stdout[-3000:] + rotated.stderr[-3000:]
        assert "tb1/jwt-keys: stage -> apply -> test -> promote -> settle" in rotated.stdout
        new, new_kid = _new_token(bed)
        assert new_kid != old_kid
        assert (_token_status(bed, old), _token_status(bed, new)) == ("200", "200")
        time.sleep(JWT_LIFETIME + 1)
        revoked = _pyinfra(bed, "deploys/rotate_credentials.py", "--limit", "tb1")
        assert "tb1/jwt-keys: revoke" in revoked.stdout, revoked.stdout[-3000:]
        assert (_token_status(bed, old), _token_status(bed, new)) == ("401", "200")
        again = _pyinfra(bed, "deploys/secrets.py", "--limit", "tb1")
        assert pyinfra_changes(again) == 0, again.stdout[-3000:]
        _, report = audit_json(bed, tmp_path, "--limit", "tb1")
        assert statuses(report)[("tb1", "SEC-08")] == "pass", evidence(report, "tb1", "SEC-08")
        assert "jwt-keys" in evidence(report, "tb1", "SEC-08")
    finally:
        bed.ssh("tb1", f"test -s {APP_PID} && kill $(cat {APP_PID}); rm -f {APP_PID}")
        _edit_tb1(bed, jwt_keys_file=None)


def test_rotation_timer_on_the_controller(bed, tmp_path) -> None:
    """tb1 as rotation_controller: SEC-08 fails without the timer, deploys/rotation_timer.py
    installs it (idempotent, units verified by systemd-analyze), SEC-08 then passes; the
    timer's exact ExecStart, run where the toolkit is installed (the control node),
    rotates what is due."""
    _edit_tb1(bed, rotation_controller=True, rotation_inventory=bed.inventory)
    try:
        _, report = audit_json(bed, tmp_path, "--limit", "tb1")
        assert statuses(report)[("tb1", "SEC-08")] == "fail"
        assert "hardening-rotate.timer is not installed" in evidence(report, "tb1", "SEC-08")
        first = _pyinfra(bed, "deploys/rotation_timer.py", "--limit", "tb1")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        assert pyinfra_changes(first) > 0
        second = _pyinfra(bed, "deploys/rotation_timer.py", "--limit", "tb1")
        assert pyinfra_changes(second) == 0, second.stdout[-3000:]
        units = "/etc/systemd/system/hardening-rotate.service /etc/systemd/system/hardening-rotate.timer"
        verify = bed.ssh("tb1", f"systemd-analyze verify {units}")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        _, report = audit_json(bed, tmp_path, "--limit", "tb1")
        assert statuses(report)[("tb1", "SEC-08")] == "pass", evidence(report, "tb1", "SEC-08")
        assert "hardening-rotate.timer enabled and active" in evidence(report, "tb1", "SEC-08")
        exec_start = bed.run(
            "tb1", "sed -n 's/^ExecStart=//p' /etc/systemd/system/hardening-rotate.service"
        ).strip()
        assert exec_start == f"/usr/bin/env hardening rotate {bed.inventory}"
        time.sleep(GRACE + 1)  # previous credentials past their grace: revoked, then due
        done = subprocess.run(
            [*shlex.split(exec_start), "--limit", "tb1", "--data", "rotation_interval_days=0"],
            env=bed.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        bed.outputs.append(done.stdout + done.stderr)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert (
            "tb1/postgres-app: " in done.stdout
            and "stage -> apply -> test -> promote" in done.stdout
        )
        not_due = subprocess.run(
            [*shlex.split(exec_start), "--limit", "tb1"],
            env=bed.env,
            capture_output=True,
            text=True,
        )
        # not due any more: at most the grace period's revoke, never a new rotation
        assert not_due.returncode == 0 and "stage" not in not_due.stdout, not_due.stdout[-3000:]
        assert "tb1/postgres-app: " in not_due.stdout
    finally:
        _edit_tb1(bed, rotation_controller=None)


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
