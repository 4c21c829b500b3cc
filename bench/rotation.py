"""Benchmark: zero-downtime credential rotation under load with both secrets backends.

    python3 bench/rotation.py [--json FILE]

Boots one fresh testbed host (PostgreSQL + Redis), starts an OpenBao dev server and a
moto (AWS Secrets Manager) server on the control node (random ports, reachable from the
host at its gateway address), and for each backend: deploys/secrets.py, then a client
loop on the host that reads the *current* credential from the backend before every
PostgreSQL and Redis login, while deploys/rotate_credentials.py rotates (forced) and,
after the grace period, revokes. Reports failed logins (must be 0) and the rotation's
wall time. Beds use HARDENING_TESTBED_PREFIX=hbxr, NET_OFFSET=237, STATE=/run/hbxr unless
those variables are set.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import hvac
from _common import pyinfra

from hardening import testbed
from hardening.testbed.lifecycle import ssh_argv

BED_ENV = {
    "HARDENING_TESTBED_PREFIX": "hbxr",
    "HARDENING_TESTBED_NET_OFFSET": "237",
    "HARDENING_TESTBED_STATE": "/run/hbxr",
}
GRACE = 5
READ_POLICY = 'path "secret/data/hardening/*" { capabilities = ["read"] }\n'
#: On the host: log in with whatever the backend serves as current, until /root/bench.stop.
CLIENT = r"""
import json, os, subprocess, sys, time, urllib.request
kind, addr, host = sys.argv[1], sys.argv[2], sys.argv[3]
token = open('/root/bench-token').read().strip()
def current(name):
    if kind == "vault":
        req = urllib.request.Request(f"{addr}/v1/secret/data/hardening/{host}/{name}",
                                     headers={"X-Vault-Token": token})
        data = json.loads(urllib.request.urlopen(req, timeout=5).read())["data"]["data"]
        return json.loads(data["current"])
    req = urllib.request.Request(addr + "/", method="POST", data=json.dumps(
        {"SecretId": f"hardening/{host}/{name}", "VersionStage": "AWSCURRENT"}).encode(), headers={
        "X-Amz-Target": "secretsmanager.GetSecretValue",
        "Content-Type": "application/x-amz-json-1.1",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/"
                         "secretsmanager/aws4_request, SignedHeaders=host, Signature=0"})
    return json.loads(json.loads(urllib.request.urlopen(req, timeout=5).read())["SecretString"])
counts = {"pg_ok": 0, "pg_fail": 0, "redis_ok": 0, "redis_fail": 0}
while not os.path.exists('/root/bench.stop'):
    pg = current("postgres-app")
    done = subprocess.run(["psql", "-XAtqw", "-h", "127.0.0.1", "-U", pg["username"], "-d",
                           "postgres", "-c", "SELECT 1"], env={**os.environ,
                           "PGPASSWORD": pg["password"]}, capture_output=True, text=True)
    counts["pg_ok" if done.stdout.strip() == "1" else "pg_fail"] += 1
    rd = current("redis-app")
    done = subprocess.run(["redis-cli", "--no-auth-warning", "--user", "app", "PING"],
                          env={**os.environ, "REDISCLI_AUTH": rd["password"]},
                          capture_output=True, text=True)
    counts["redis_ok" if done.stdout.strip() == "PONG" else "redis_fail"] += 1
    time.sleep(0.1)
print(json.dumps(counts))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


def wait_http(url: str) -> None:
    import urllib.request

    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError as error:
            if getattr(error, "code", None):  # an HTTP error status: it answers
                return
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def set_backend(state: Path, config: dict) -> None:
    path = state / "inventory.json"
    document = json.loads(path.read_text())
    for entry in document["hosts"]:
        entry["data"].update(secrets_backend=config, rotation_grace_seconds=GRACE)
    path.write_text(json.dumps(document))


def measure(bed, env: dict[str, str], kind: str, client_addr: str, token: str) -> dict:
    """Deploy, then rotate + revoke under the client loop: failed logins and wall time."""
    host = bed.hosts[0]
    pyinfra(env, "deploys/secrets.py")
    bed.run(host.name, f"umask 077; printf %s {token} > /root/bench-token; rm -f /root/bench.stop")
    bed.run(host.name, f"cat > /root/bench-client.py <<'PY'\n{CLIENT}\nPY")
    client = subprocess.Popen(
        ssh_argv(
            bed.config,
            host.address,
            f"python3 /root/bench-client.py {kind} {client_addr} {host.name}",
        ),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(2)
    started = time.perf_counter()
    pyinfra(env, "deploys/rotate_credentials.py", "--data", "rotation_force=True")
    rotation = time.perf_counter() - started
    time.sleep(GRACE + 1)
    started = time.perf_counter()
    pyinfra(env, "deploys/rotate_credentials.py")
    revoke = time.perf_counter() - started
    bed.run(host.name, "touch /root/bench.stop")
    out, err = client.communicate(timeout=120)
    counts = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"error": err[-500:]}
    return {
        "backend": kind,
        "rotation_s": round(rotation, 1),
        "revoke_s": round(revoke, 1),
    } | counts


def start(argv: list[str], ready_url: str) -> subprocess.Popen:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(ready_url)
    return proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    env = {**os.environ, **{k: os.environ.get(k, v) for k, v in BED_ENV.items()}}
    config = testbed.BedConfig.from_env(env)
    bao_port, moto_port, root = free_port(), free_port(), secrets.token_hex(16)
    bed = testbed.up(1, "services", config)
    bao = start(
        ["bao", "server", "-dev", f"-dev-root-token-id={root}",
         f"-dev-listen-address=0.0.0.0:{bao_port}"],
        f"http://127.0.0.1:{bao_port}/v1/sys/health",
    )  # fmt: skip
    moto = start(
        ["moto_server", "-H", "0.0.0.0", "-p", str(moto_port)], f"http://127.0.0.1:{moto_port}/"
    )
    rows = []
    try:
        client = hvac.Client(url=f"http://127.0.0.1:{bao_port}", token=root)
        client.sys.create_or_update_policy("app-read", READ_POLICY)
        app_token = client.auth.token.create_orphan(policies=["app-read"], period="1h")
        gateway, state = bed.hosts[0].gateway, Path(env["HARDENING_TESTBED_STATE"])
        set_backend(state, {"type": "vault", "address": f"http://127.0.0.1:{bao_port}"})
        vault_env = {**env, "VAULT_TOKEN": root}
        vault_addr = f"http://{gateway}:{bao_port}"
        rows.append(measure(bed, vault_env, "vault", vault_addr, app_token["auth"]["client_token"]))
        set_backend(state, {"type": "aws", "endpoint_url": f"http://127.0.0.1:{moto_port}"})
        aws_env = {
            **env,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        rows.append(measure(bed, aws_env, "aws", f"http://{gateway}:{moto_port}", "unused"))
    finally:
        for proc in (bao, moto):
            proc.kill()
            proc.wait()
        testbed.down(config)
    print("| backend | rotation (s) | revoke (s) | PostgreSQL ok / failed | Redis ok / failed |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['backend']} | {row['rotation_s']} | {row['revoke_s']} | "
            f"{row.get('pg_ok')} / {row.get('pg_fail')} | "
            f"{row.get('redis_ok')} / {row.get('redis_fail')} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    failed = any(row.get("pg_fail") != 0 or row.get("redis_fail") != 0 for row in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
