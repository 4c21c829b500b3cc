"""pgBouncer TLS and replication over verified TLS without hosts: the rendered pgbouncer.ini,
the standby's primary_conninfo, the facts' parsers and the SEC-03 judgement of database links."""

from __future__ import annotations

import shlex

import pytest
from pyinfra.api import FileUploadCommand

from hardening.checks import HostContext, registry
from hardening.checks.tls import database_links
from hardening.facts.pgbouncer import PgbouncerConfig
from hardening.facts.postgres import (
    PostgresReplicationTls,
    PostgresTlsProbe,
    conninfo_fields,
)
from hardening.facts.tls import TlsListeners
from hardening.operations import pgbouncer as pgbouncer_ops
from hardening.operations import postgres_replication as replication_ops
from hardening.results import Status
from tests.unit.test_monitoring_operations import FakeHost, commands, text

CA = "/usr/local/share/ca-certificates/hardening-ca.crt"
TLS = {
    "tls_cert_file": "/etc/ssl/hardening/pgbouncer.crt",
    "tls_key_file": "/etc/ssl/hardening/pgbouncer.key",
    "tls_ca_file": CA,
}
RUNNING = {
    "installed": True,
    "active": True,
    "config": {"pgbouncer": {"listen_addr": "127.0.0.1", "listen_port": "6432",
                             "unix_socket_dir": "/var/run/postgresql"}},
}  # fmt: skip


def bouncer_host(**facts: object) -> FakeHost:
    """A host whose pgBouncer unit runs and is enabled, with ``facts``."""
    up = {"pgbouncer.service": True}
    return FakeHost(SystemdStatus=up, SystemdEnabled=up, PgbouncerConfig=RUNNING, **facts)


def pooling(fake: FakeHost, **kwargs) -> tuple[str, list[str]]:
    """(rendered pgbouncer.ini, the other commands) of ``pgbouncer.pooling``."""
    done = commands(pgbouncer_ops.pooling, fake, **kwargs)
    upload = next(c for c in done if isinstance(c, FileUploadCommand))
    return upload.src.getvalue(), [text(c) for c in done if c is not upload]


def test_pgbouncer_tls_both_legs_when_postgres_offers_a_ca_certificate() -> None:
    ini, steps = pooling(bouncer_host(PostgresTlsProbe=True), **TLS)
    for line in (
        "client_tls_sslmode = require",
        "client_tls_cert_file = /etc/ssl/hardening/pgbouncer.crt",
        "client_tls_key_file = /etc/ssl/hardening/pgbouncer.key",
        f"client_tls_ca_file = {CA}",
        "client_tls_protocols = secure",
        "server_tls_sslmode = verify-full",
        f"server_tls_ca_file = {CA}",
        "server_tls_protocols = secure",
    ):
        assert f"\n{line}\n" in ini, line
    assert any("_tls_[a-z]*_file" in step and "-- test -r" in step for step in steps)
    swap = next(step for step in steps if step.startswith("mv -f"))
    assert "systemctl reload pgbouncer" in swap and "restart" not in swap
    assert "sslmode=verify-full sslrootcert=" + CA in swap


def test_server_leg_waits_for_postgres_tls_and_plain_pooling_has_no_tls() -> None:
    fake = bouncer_host(PostgresTlsProbe=False)
    ini, _ = pooling(fake, **TLS)
    assert "client_tls_sslmode = require" in ini and "server_tls" not in ini
    assert "offers no certificate" in fake.noops[0]
    ini, steps = pooling(bouncer_host())
    assert "_tls_" not in ini
    swap = next(step for step in steps if step.startswith("mv -f"))
    assert "sslmode" not in swap


def test_listen_change_restarts_and_bad_sslmode_is_refused() -> None:
    fake = bouncer_host(PostgresTlsProbe=True)
    ini, steps = pooling(fake, listen_addr="127.0.0.1,10.0.0.11", **TLS)
    assert "listen_addr = 127.0.0.1,10.0.0.11" in ini
    assert "systemctl restart pgbouncer" in next(s for s in steps if s.startswith("mv -f"))
    with pytest.raises(ValueError, match="client_tls_sslmode"):
        pooling(fake, client_tls_sslmode="prefer", **TLS)


def standby(configured: dict, verifiable: bool, in_recovery: bool = True) -> tuple[list, list]:
    fake = FakeHost(
        PostgresReplication={
            "in_recovery": in_recovery, "databases": ["postgres"], "user_tables": 0,
            "pgpass": True,
        },
        PostgresReplicationTls={**PostgresReplicationTls.default(), "configured": configured},
        PostgresTlsProbe=verifiable,
    )  # fmt: skip
    fake.name = "db2"
    done = commands(
        replication_ops.standby, fake, primary_name="db1", primary_address="10.0.0.1", ca_file=CA
    )
    return [text(c) for c in done], fake.noops


def test_running_standby_switches_to_verify_full_once() -> None:
    steps, _ = standby({"host": "10.0.0.1", "sslmode": "prefer"}, verifiable=True)
    wanted = replication_ops.primary_conninfo("10.0.0.1", 5432, CA)
    assert wanted.endswith(f"sslmode=verify-full sslrootcert={CA}")
    assert "passfile=/var/lib/postgresql/.pgpass" in wanted and "password" not in wanted.split()
    assert shlex.split(steps[0])[-1] == f"ALTER SYSTEM SET primary_conninfo = '{wanted}'"
    assert "pg_reload_conf()" in steps[1] and len(steps) == 2
    done, noops = standby({"sslmode": "verify-full", "sslrootcert": CA}, verifiable=True)
    assert done == [] and "verifies the primary's certificate" in noops[0]
    done, noops = standby({"sslmode": "prefer"}, verifiable=False)
    assert done == [] and "stays sslmode=prefer" in noops[0]


def test_new_standby_takes_its_base_backup_over_verify_full() -> None:
    steps, _ = standby({}, verifiable=True, in_recovery=False)
    assert "-d 'host=10.0.0.1 port=5432 user=replicator" in steps[1]
    assert f"sslmode=verify-full sslrootcert={CA}' -D" in steps[1]
    steps, _ = standby({}, verifiable=False, in_recovery=False)
    assert "sslmode" not in steps[1]


def test_replication_tls_fact_reads_senders_and_conninfo_without_password() -> None:
    fact = PostgresReplicationTls().process(
        [
            "sender|10.0.0.2|15/main|t|TLSv1.3",
            "sender|10.0.0.3|15/main|f|",
            "receiver|user=replicator password=******** host=10.0.0.1 port=5432"
            f" sslmode=verify-full sslrootcert={CA}",
            "configured|user=replicator passfile='/var/lib/postgresql/.pgpass' password=***"
            " host=10.0.0.1 sslmode=prefer",
        ]
    )
    assert fact["running"] and fact["senders"][0] == {
        "client": "10.0.0.2", "name": "15/main", "ssl": True, "version": "TLSv1.3"
    }  # fmt: skip
    assert not fact["senders"][1]["ssl"]
    assert fact["receiver"]["sslmode"] == "verify-full" and fact["receiver"]["sslrootcert"] == CA
    assert fact["configured"] == {"user": "replicator", "host": "10.0.0.1", "sslmode": "prefer"}
    assert "password" not in str(fact)
    assert PostgresReplicationTls().process(["#down"])["running"] is False
    assert "password" in PostgresReplicationTls().command().get_raw_value()  # masked on the host
    assert conninfo_fields("host='a b' sslmode=require") == {"host": "a b", "sslmode": "require"}
    assert PostgresTlsProbe().process(["#exit:0"]) and not PostgresTlsProbe().process(["#exit:2"])
    probe = PostgresTlsProbe().command("10.0.0.1", 5432, CA).get_raw_value()
    assert f"'host=10.0.0.1 port=5432 sslmode=verify-full sslrootcert={CA}'" in probe


def bouncer(client: str | None, listen: str, server: str | None = None, host="127.0.0.1") -> dict:
    settings = {"listen_addr": listen, "listen_port": "6432"}
    settings.update({"client_tls_sslmode": client} if client else {})
    settings.update({"server_tls_sslmode": server} if server else {})
    databases = {"*": f"host={host} port=5432"}
    return {"installed": True, "active": True, "config": {"pgbouncer": settings,
                                                          "databases": databases}}  # fmt: skip


NO_REPLICATION = PostgresReplicationTls.default()


def test_database_links_judge_pgbouncer_legs() -> None:
    problems, evidence = database_links(bouncer(None, "127.0.0.1,10.0.0.1"), NO_REPLICATION)
    assert problems == ["pgbouncer 6432 client_tls_sslmode=disable on 10.0.0.1"]
    assert evidence == ["pgbouncer -> 127.0.0.1 server_tls_sslmode=prefer"]
    problems, _ = database_links(bouncer("prefer", "*"), NO_REPLICATION)
    assert problems == ["pgbouncer 6432 client_tls_sslmode=prefer on *"]
    problems, evidence = database_links(bouncer(None, "127.0.0.1"), NO_REPLICATION)
    assert problems == [] and "(loopback only)" in evidence[0]
    problems, _ = database_links(bouncer("require", "10.0.0.1", host="10.0.0.2"), NO_REPLICATION)
    assert problems == ["pgbouncer -> 10.0.0.2 server_tls_sslmode=prefer"]
    tls = bouncer("require", "10.0.0.1", "verify-full", host="10.0.0.2")
    assert database_links(tls, NO_REPLICATION)[0] == []
    stopped = {**tls, "active": False}
    assert database_links(stopped, NO_REPLICATION) == ([], [])


def test_database_links_judge_replication_on_both_ends() -> None:
    idle = PgbouncerConfig.default()
    primary = {
        **NO_REPLICATION,
        "senders": [
            {"client": "10.0.0.2", "name": "15/main", "ssl": True, "version": "TLSv1.3"},
            {"client": "10.0.0.3", "name": "15/main", "ssl": False, "version": ""},
        ],
    }
    problems, evidence = database_links(idle, primary)
    assert problems == ["replication to 10.0.0.3 without TLS"]
    assert evidence == ["replication to 10.0.0.2 over TLSv1.3"]
    receiver = {"host": "10.0.0.1", "sslmode": "verify-full", "sslrootcert": CA}
    assert database_links(idle, {**NO_REPLICATION, "receiver": receiver}) == (
        [], ["replication from 10.0.0.1 sslmode=verify-full"]
    )  # fmt: skip
    unverified = {**NO_REPLICATION, "configured": {"host": "10.0.0.1", "sslmode": "require"}}
    assert database_links(idle, unverified)[0] == ["replication from 10.0.0.1 sslmode=require"]


def test_sec03_fails_on_plaintext_pgbouncer_and_passes_when_links_are_verified() -> None:
    listeners = TlsListeners().process(["tls:22:no", "tls:6432:yes", "#done"])
    facts = {
        TlsListeners: listeners,
        PgbouncerConfig: bouncer(None, "10.0.0.1"),
        PostgresReplicationTls: NO_REPLICATION,
    }
    check = registry()["tls.everywhere"]
    outcome = check(HostContext("h", ("db_primary",), {}, lambda cls, **kw: facts[cls]))
    assert outcome.status is Status.FAIL and "deploys/postgres.py" in outcome.fix
    assert "database links without (verified) TLS: pgbouncer 6432" in outcome.evidence
    facts[PgbouncerConfig] = bouncer("require", "10.0.0.1", "verify-full")
    outcome = check(HostContext("h", ("db_primary",), {}, lambda cls, **kw: facts[cls]))
    assert outcome.status is Status.PASS, outcome.evidence
    assert "6432 (tls)" in outcome.evidence and "client_tls_sslmode=require" in outcome.evidence
