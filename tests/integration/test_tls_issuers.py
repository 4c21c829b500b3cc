"""Certificate issuers on real hosts (issue 6): PostgreSQL and Redis certificates from
OpenBao's PKI engine (verify-full with OpenBao's CA), idempotent; a refused token and a
stopped OpenBao leave the served certificates in place and reload nothing (and a run with
nothing due still succeeds while OpenBao is down); nginx's OpenBao certificate renewed under a
client loop (new serial served, no failed request, reloaded not restarted); operator files
with a key that does not match are refused, a matching pair is served; no token or private key
in any output."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from hardening.pki import issue, load_or_create_ca
from hardening.testbed.services import stop_pids
from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes, statuses
from tests.integration.test_backups_standby import bao  # noqa: F401  (pytest fixture)
from tests.integration.test_tls import network_clients, stdin_ssh

ROLE = "issuer_probe"
BAO_CA = "/tmp/bao-ca.pem"
PG_CERT = "/etc/ssl/hardening/postgresql.crt"
TRUSTED = "/usr/local/share/ca-certificates/hardening-ca.crt"
PG_LOADED = "runuser -u postgres -- psql -XAtqc 'SELECT pg_conf_load_time()'"
REDIS_PID = "systemctl show -p MainPID --value redis-server"
NGINX_PID = "systemctl show -p MainPID --value nginx"
#: nginx only (no exporter package to install), renewal forced: 100 days > the 90-day lifetime
WEB = ("--limit", "tb1", "--data", "web_nginx_exporter=false")
RENEW = ("--data", "tls_renew_days=100")
#: Bounded https client loop on tb2 (OpenBao's CA, tb1's address): one line per request,
#: the HTTP code or ``exit<curl status>``; stops at /tmp/loop.stop or after 3000 requests.
CLIENT_LOOP = """i=0
while [ $i -lt 3000 ] && [ ! -e /tmp/loop.stop ]; do
  code=$(curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 --cacert {ca} {url}) \
    || code="exit$?"
  echo "$code"
  i=$((i + 1))
  sleep 0.05
done >/tmp/loop.out
touch /tmp/loop.done
"""


@pytest.fixture(scope="module")
def bed(module_bed, bao, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    module_bed.env["HARDENING_PKI_DIR"] = str(tmp_path_factory.mktemp("pki"))
    network_clients(module_bed, ROLE)
    for host in ("tb1", "tb2"):  # OpenBao's CA, fetched here, for the clients' checks
        stdin_ssh(module_bed, host, f"cat > {BAO_CA}", bao.ca_file.read_text())
    state = Path(module_bed.env["HARDENING_TESTBED_STATE"]) / "inventory.json"
    document = json.loads(state.read_text())
    for entry in document["hosts"]:
        entry["data"].update(
            tls_issuer="vault",
            tls_vault_pki={"address": bao.address, "token_file": str(bao.token_file)},
            postgres_client_networks=[f"{module_bed.hosts[1].address}/32"],
        )
    state.write_text(json.dumps(document))
    return module_bed


def deploy(bed, *args: str, script: str = "deploys/tls.py"):
    done = bed.pyinfra(script, *args)
    bed.outputs.append(done.stdout + done.stderr)
    return done


def served(bed) -> list[str]:
    """Fingerprints of the certificates PostgreSQL and Redis serve, and their issuer (an
    empty line for a port without TLS)."""
    probe = (
        "openssl s_client -connect 127.0.0.1:{} {} </dev/null 2>/dev/null"
        " | openssl x509 -noout -fingerprint -sha256 -issuer 2>/dev/null || true"
    )
    return [
        bed.run("tb1", probe.format(5432, "-starttls postgres")),
        bed.run("tb1", probe.format(6380, "")),
    ]


def untouched(bed) -> list[str]:
    """What must not change when a run is refused: served pairs, files, reloads, restarts."""
    files = bed.run("tb1", f"sha256sum {PG_CERT} {TRUSTED}")
    return [*served(bed), files, bed.run("tb1", PG_LOADED), bed.run("tb1", REDIS_PID)]


def test_openbao_issues_the_certificates_then_nothing_changes(bed, tmp_path: Path) -> None:
    _, fresh = audit_json(bed, tmp_path, "--limit", "tb1")
    assert statuses(fresh)[("tb1", "SEC-03")] == "fail"
    postgres, redis = served(bed)  # Debian's snakeoil certificate, no Redis TLS port
    assert "OpenBao" not in postgres and redis == "", (postgres, redis)
    done = deploy(bed)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    dsn = f"sslmode=verify-full sslrootcert={BAO_CA} host={bed.tb1} dbname=postgres user={ROLE}"
    ok = stdin_ssh(
        bed,
        "tb2",
        f"read -r PGPASSWORD && export PGPASSWORD && psql '{dsn}' -XAtqc 'SHOW ssl'",
        bed.password + "\n",
    )
    assert ok.returncode == 0 and ok.stdout.strip() == "on", ok.stderr
    pong = bed.run("tb1", f"redis-cli --tls --cacert {BAO_CA} -h localhost -p 6380 PING")
    assert pong.strip() == "PONG"
    assert all("hardening testbed OpenBao CA" in line for line in served(bed))
    assert bed.run("tb1", "stat -c '%a %U' /etc/ssl/hardening/postgresql.key").split() == [
        "600",
        "postgres",
    ]
    bed.keys = [
        bed.run("tb1", f"cat /etc/ssl/hardening/{name}.key") for name in ("postgresql", "redis")
    ]
    _, report = audit_json(bed, tmp_path, "--limit", "tb1")
    sec03 = evidence(report, "tb1", "SEC-03")
    assert "5432 (tls, expires" in sec03, sec03  # Redis listens on loopback only
    assert "expiring within" not in sec03, sec03
    again = deploy(bed)
    assert again.returncode == 0, again.stdout[-3000:]
    assert pyinfra_changes(again) == 0, again.stdout[-3000:]


def nginx_serial(bed) -> str:
    """Serial and issuer of the certificate nginx serves on tb1:443."""
    return bed.run(
        "tb1",
        f"openssl s_client -connect {bed.tb1}:443 -servername tb1 </dev/null 2>/dev/null"
        " | openssl x509 -noout -serial -issuer",
    )


def test_nginx_renewal_from_openbao_under_client_load(bed) -> None:
    done = deploy(bed, *WEB, script="deploys/web.py")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    bed.run("tb1", "mkdir -p /srv/hardening-demo-app/static && echo ok >"
            " /srv/hardening-demo-app/static/probe.txt")  # fmt: skip
    before, master = nginx_serial(bed), bed.run("tb1", NGINX_PID)
    bed.keys.append(bed.run("tb1", "cat /etc/ssl/hardening/nginx.key"))
    assert "hardening testbed OpenBao CA" in before, before
    url = f"https://{bed.tb1}/static/probe.txt"
    loop = CLIENT_LOOP.format(ca=BAO_CA, url=url)
    assert stdin_ssh(bed, "tb2", "rm -f /tmp/loop.*; cat > /tmp/loop.sh", loop).returncode == 0
    bed.run("tb2", "setsid sh /tmp/loop.sh </dev/null >/dev/null 2>&1 &")
    renewed = deploy(bed, *WEB, *RENEW, script="deploys/web.py")
    bed.run("tb2", "sleep 1; touch /tmp/loop.stop; for i in $(seq 100); do "
            "[ -e /tmp/loop.done ] && break; sleep 0.1; done; test -e /tmp/loop.done")  # fmt: skip
    assert renewed.returncode == 0, renewed.stdout[-3000:] + renewed.stderr[-3000:]
    codes = bed.run("tb2", "cat /tmp/loop.out").split()
    after = nginx_serial(bed)
    assert "hardening testbed OpenBao CA" in after and after != before, (before, after)
    assert len(codes) >= 20 and set(codes) == {"200"}, sorted(set(codes))
    assert bed.run("tb1", NGINX_PID) == master  # reloaded, not restarted
    bed.keys.append(bed.run("tb1", "cat /etc/ssl/hardening/nginx.key"))
    again = deploy(bed, *WEB, script="deploys/web.py")
    assert again.returncode == 0 and pyinfra_changes(again) == 0, again.stdout[-3000:]


def test_refused_token_and_stopped_openbao_change_nothing(bed, bao) -> None:  # noqa: F811
    before = untouched(bed)
    forced = ("--data", "tls_renew_days=100")  # longer than the 90-day lifetime: renew now
    token = bao.token_file.read_text()
    bao.token_file.write_text(secrets.token_hex(13) + "\n")
    try:
        refused = deploy(bed, *forced)
    finally:
        bao.token_file.write_text(token)
    out = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "Traceback" not in out, out[-3000:]
    assert "denied pki/issue/hardening" in out and "nothing was reloaded" in out, out[-3000:]
    stop_pids([proc.pid for proc in bao.procs])
    down = deploy(bed, *forced)
    out = down.stdout + down.stderr
    assert down.returncode != 0 and "Traceback" not in out, out[-3000:]
    assert "is unreachable" in out and "nothing was reloaded" in out, out[-3000:]
    # certificates that are still good need no OpenBao: judged against the CA hosts trust
    quiet = deploy(bed)
    assert quiet.returncode == 0, quiet.stdout[-3000:] + quiet.stderr[-3000:]
    assert pyinfra_changes(quiet) == 0, quiet.stdout[-3000:]
    assert "judging certificates against" in quiet.stdout + quiet.stderr
    assert untouched(bed) == before


def test_operator_files_with_a_foreign_key_are_refused(bed, tmp_path: Path) -> None:
    ca = load_or_create_ca(tmp_path / "operator-ca")
    names = ["tb1", bed.tb1]
    good, stranger = issue(ca, names), issue(ca, names)
    files = {}
    for service in ("postgresql", "redis"):
        (tmp_path / f"{service}.crt").write_text(good.cert_pem)
        (tmp_path / f"{service}.key").write_text(stranger.key_pem)
        files[service] = {
            "cert": str(tmp_path / f"{service}.crt"),
            "key": str(tmp_path / f"{service}.key"),
            "ca": str(tmp_path / "operator-ca" / "ca.crt"),
        }
    data = ("--data", "tls_issuer=files", "--data", f"tls_certificate_files={json.dumps(files)}")
    before = untouched(bed)
    refused = deploy(bed, "--limit", "tb1", *data)
    out = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "Traceback" not in out, out[-3000:]
    assert f"{tmp_path}/postgresql.key: the private key does not match" in out, out[-3000:]
    assert untouched(bed) == before
    # the matching key: deployed, served, and the operator's CA trusted
    for service in files:
        (tmp_path / f"{service}.key").write_text(good.key_pem)
    accepted = deploy(bed, "--limit", "tb1", *data)
    assert accepted.returncode == 0, accepted.stdout[-3000:] + accepted.stderr[-3000:]
    assert all("hardening internal CA" in line for line in served(bed))
    assert bed.run("tb1", "redis-cli --tls -h localhost -p 6380 PING").strip() == "PONG"
    bed.keys += [good.key_pem, stranger.key_pem]


def test_no_token_or_private_key_in_any_output(bed, bao) -> None:  # noqa: F811
    token = bao.token_file.read_text().strip()
    bodies = ["".join(line for line in key.splitlines() if "-----" not in line) for key in bed.keys]
    for output in bed.outputs:
        assert token not in output
        assert "PRIVATE KEY" not in output
        assert bed.password not in output
        assert all(body[:40] not in output for body in bodies)
