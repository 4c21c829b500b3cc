"""pgBouncer client/server TLS and streaming replication over verified TLS on real hosts.

tb1 (primary) and tb2 (its standby) first run deploys/postgres.py with ``postgres_tls`` off, as
an existing deployment would be: pgBouncer takes plaintext on tb1's address and the standby
streams without TLS, and the audit (SEC-03) says so. deploys/tls.py then deploys/postgres.py
(the order of ``harden()``) issue pgBouncer's certificate, switch the running standby to
``sslmode=verify-full`` with a reload, and make pgBouncer refuse plaintext: from tb2, psql
through pgBouncer with ``verify-full`` logs in and ``sslmode=disable`` is refused, tb1's
``pg_stat_replication`` shows the standby over TLS, a rerun changes nothing, the audit's
evidence names every link, and no password or key is in any output.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests.integration.harden_helpers import audit_json, evidence, pyinfra_changes
from tests.integration.test_tls import network_clients, stdin_ssh

CA = "/usr/local/share/ca-certificates/hardening-ca.crt"
ROLE = "link_probe"
UNVERIFIED = "database links without (verified) TLS"
LONG_CLIENT = "/tmp/long-client.out"
USERLIST = "/etc/pgbouncer/userlist.txt"
#: pgBouncer's userlist line of ROLE: its SCRAM verifier, so that pgBouncer passes SCRAM through
USERLIST_SQL = (
    "SELECT chr(34) || rolname || chr(34) || ' ' || chr(34) || rolpassword || chr(34)"
    f" FROM pg_authid WHERE rolname = '{ROLE}'"
)
REPLICATION_SSL = (
    "runuser -u postgres -- psql -XAtc 'SELECT r.client_addr, s.ssl FROM pg_stat_replication r"
    " JOIN pg_stat_ssl s USING (pid)'"
)


@pytest.fixture(scope="module")
def bed(module_bed, tmp_path_factory: pytest.TempPathFactory):
    """Own CA; tb1's pgBouncer serves tb2's network; a login role with a random password
    (``bed.password``); ``bed.tb1``, ``bed.outputs``."""
    module_bed.env["HARDENING_PKI_DIR"] = str(tmp_path_factory.mktemp("pki"))
    state = Path(module_bed.env["HARDENING_TESTBED_STATE"]) / "inventory.json"
    document = json.loads(state.read_text())
    tb2 = next(h.address for h in module_bed.hosts if h.name == "tb2")
    tb1 = next(entry for entry in document["hosts"] if entry["name"] == "tb1")
    tb1["data"]["postgres_client_networks"] = [f"{tb2}/32"]
    state.write_text(json.dumps(document))
    return network_clients(module_bed, ROLE)


def deploy(bed, *scripts: str, data: tuple[str, ...] = ()) -> object:
    done = bed.pyinfra(*scripts, *data)
    bed.outputs.append(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def through_pgbouncer(bed, sslmode: str, sql: str = "SELECT 1", background: str = ""):
    """psql from tb2 to tb1's pgBouncer as ``ROLE`` (password on stdin); with ``background``
    it runs detached, its output and then its exit status in that file."""
    dsn = f"host={bed.tb1} port=6432 dbname=postgres user={ROLE} sslmode={sslmode}"
    psql = f"psql '{dsn} sslrootcert={CA}' -XAtqc '{sql}'"
    if background:
        psql = f"{{ {{ {psql}; echo rc=$?; }} </dev/null >{background} 2>&1 & }}"
    return stdin_ssh(
        bed, "tb2", f"read -r PGPASSWORD && export PGPASSWORD && {psql}", bed.password + "\n"
    )


def test_links_fail_in_plaintext_then_pass_over_verified_tls(bed, tmp_path: Path) -> None:
    # an existing deployment without TLS: standby streaming, pgBouncer on the network
    deploy(bed, "deploys/postgres.py", data=("--data", "postgres_tls=false"))
    bed.run("tb1", f"runuser -u postgres -- psql -XAtc {shlex.quote(USERLIST_SQL)} >> {USERLIST}"
                   " && systemctl reload pgbouncer && sleep 1")  # fmt: skip
    assert through_pgbouncer(bed, "disable").returncode == 0  # plaintext accepted
    _, before = audit_json(bed, tmp_path)
    primary, standby = evidence(before, "tb1", "SEC-03"), evidence(before, "tb2", "SEC-03")
    assert "client_tls_sslmode=disable on" in primary.split(UNVERIFIED)[1], primary
    assert "replication from" in standby.split(UNVERIFIED)[1], standby
    assert "sslmode=prefer" in standby, standby

    # the order of harden(): PostgreSQL's TLS, then pooling and replication
    deploy(bed, "deploys/tls.py")
    # a plaintext client inside a query while pgBouncer turns TLS on: it is not dropped
    through_pgbouncer(bed, "disable", "SELECT pg_sleep(20)", background=LONG_CLIENT)
    deploy(bed, "deploys/postgres.py")
    bed.run("tb2", f"for i in $(seq 60); do grep -q rc= {LONG_CLIENT} && break; sleep 1; done")
    assert bed.run("tb2", f"cat {LONG_CLIENT}").split() == ["rc=0"]
    second = deploy(bed, "deploys/tls.py", "deploys/postgres.py")
    assert pyinfra_changes(second) == 0, second.stdout[-3000:]

    verified = through_pgbouncer(bed, "verify-full")
    assert verified.returncode == 0 and verified.stdout.strip() == "1", verified.stderr
    refused = through_pgbouncer(bed, "disable")
    assert refused.returncode != 0 and "SSL required" in refused.stderr, refused.stderr
    tb2 = next(h.address for h in bed.hosts if h.name == "tb2")
    assert bed.run("tb1", REPLICATION_SSL).split() == [f"{tb2}|t"]
    conninfo = bed.run("tb2", "runuser -u postgres -- psql -XAtc 'SELECT conninfo FROM"
                       " pg_stat_wal_receiver'")  # fmt: skip
    assert "sslmode=verify-full" in conninfo and f"sslrootcert={CA}" in conninfo
    config = bed.run("tb1", "grep _tls_sslmode /etc/pgbouncer/pgbouncer.ini").split()
    assert config == ["client_tls_sslmode", "=", "require", "server_tls_sslmode", "=",
                      "verify-full"]  # fmt: skip

    done, after = audit_json(bed, tmp_path)
    bed.outputs.append(done.stdout + done.stderr)
    primary, standby = evidence(after, "tb1", "SEC-03"), evidence(after, "tb2", "SEC-03")
    assert UNVERIFIED not in primary and UNVERIFIED not in standby, (primary, standby)
    assert f"client_tls_sslmode=require on {bed.tb1}" in primary, primary
    assert "server_tls_sslmode=verify-full" in primary, primary
    assert f"replication to {tb2} over TLSv1." in primary, primary
    assert f"replication from {bed.tb1} sslmode=verify-full" in standby, standby
    assert "6432 (tls, expires" in primary, primary

    replication = bed.run("tb1", "cat /var/lib/postgresql/.hardening-replication-password")
    key = bed.run("tb1", "cat /etc/ssl/hardening/pgbouncer.key").strip().splitlines()[1]
    for output in bed.outputs:
        for secret in (bed.password, replication.strip(), key):
            assert secret not in output
