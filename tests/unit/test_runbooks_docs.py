"""Runbooks and compliance documents: rendering, digests, fact parsers, checks on canned facts,
the ``hardening runbooks`` command."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pyinfra.facts.files import File

from hardening.checks import HostContext, registry
from hardening.facts.docs import AccessControl, DocumentFiles, SshClientAddress, UnitLoadState
from hardening.facts.network import ListeningSockets
from hardening.facts.pgbackrest import RestoreDrillResult
from hardening.results import Status
from hardening.runbooks import (
    ACCESS_MATRIX,
    ARCHITECTURE,
    INVENTORY_DOCUMENTS,
    RUNBOOKS,
    add_commands,
    architecture_digest,
    digest,
    host_entry,
    read_digest,
    render_access_matrix,
    render_architecture,
    render_inventory_documents,
)

CHECKS = registry()
GROUPS = ("web", "db_primary")
SOCKETS = [
    {"proto": "tcp", "address": "0.0.0.0", "port": 22, "process": "sshd"},
    {"proto": "udp", "address": "0.0.0.0", "port": 41234, "process": "dhclient"},
]
ACCESS = {
    "users": [{"name": "root", "uid": 0, "shell": "/bin/bash", "sudo": True, "keys": []}],
    "sudoers": [],
    "pg_roles": None,
    "redis_users": ["default"],
}


def model(**data: Any) -> list[dict]:
    return [host_entry("h1", GROUPS, data)]


def files_fact(documents: dict[str, str]) -> dict:
    return {
        relpath: {"size": len(text), "mtime": 1, "digest": read_digest(text)}
        for relpath, text in documents.items()
    }


def deployed(**data: Any) -> dict[str, str]:
    documents = render_inventory_documents(model(**data))
    documents[ARCHITECTURE.relpath] = render_architecture(model(**data), "h1", SOCKETS)
    documents[ACCESS_MATRIX.relpath] = render_access_matrix("h1", ACCESS)
    return documents


def context(facts: dict[type, Any], groups=GROUPS, **data: Any) -> HostContext:
    def getter(fact_class: type, **kwargs: Any) -> Any:
        value = facts.get(fact_class)
        if value is None:
            return fact_class.default() if callable(fact_class.default) else None
        return value(kwargs) if callable(value) else value

    return HostContext("h1", tuple(groups), data, getter)


def judge(name: str, ctx: HostContext):
    return CHECKS[name](ctx)


def test_documents_name_real_hosts_and_settings() -> None:
    hosts = [
        host_entry("db1", ("db_primary",), {"ssh_hostname": "10.0.0.5"}),
        host_entry("db2", ("db_replica",), {"sla_response_time_ms": 1500}),
    ]
    documents = render_inventory_documents(hosts)
    assert set(documents) == {doc.relpath for doc in INVENTORY_DOCUMENTS}
    assert "promotes `db2`" in documents["runbooks/database-failover.md"]
    assert "10.0.0.5" in documents["runbooks/rollback.md"]
    assert "< 1500 ms" in documents["docs/sla.md"]
    assert len({read_digest(text) for text in documents.values()}) == 1


def test_digest_is_stable_and_ignores_one_shot_knobs() -> None:
    assert digest(model()) == digest(model(rotation_force=True, ssh_user="x"))
    assert digest(model()) != digest(model(sla_response_time_ms=1000))
    assert architecture_digest(model(), SOCKETS) == architecture_digest(model(), SOCKETS[:1])


def test_all_document_checks_pass_when_current() -> None:
    facts = {
        DocumentFiles: files_fact(deployed()),
        ListeningSockets: SOCKETS,
        AccessControl: ACCESS,
    }
    ctx = context(facts)
    for name in ("docs.runbooks", "docs.security_policy", "docs.sla", "docs.access_matrix"):
        assert judge(name, ctx).status == Status.PASS, judge(name, ctx)
    assert judge("docs.architecture_diagram", ctx).status == Status.PASS
    for doc in RUNBOOKS:
        name = "runbooks." + Path(doc.relpath).stem.replace("-", "_")
        assert judge(name, ctx).status == Status.PASS


def test_inventory_change_makes_documents_stale() -> None:
    ctx = context({DocumentFiles: files_fact(deployed())}, sla_response_time_ms=900)
    outcome = judge("docs.sla", ctx)
    assert outcome.status == Status.FAIL and "stale" in outcome.evidence
    assert "deploys/runbooks.py" in outcome.fix


def test_missing_documents_and_changed_access_fail() -> None:
    documents = deployed()
    del documents["runbooks/rollback.md"]
    more = {**ACCESS, "users": [*ACCESS["users"], {**ACCESS["users"][0], "name": "eve"}]}
    ctx = context({DocumentFiles: files_fact(documents), AccessControl: more})
    assert "missing: runbooks/rollback.md" in judge("runbooks.rollback", ctx).evidence
    assert judge("docs.runbooks", ctx).status == Status.FAIL
    assert judge("docs.access_matrix", ctx).status == Status.FAIL


def test_document_files_parser() -> None:
    output = [
        f"/usr/local/share/hardening/runbooks/rollback.md|120|1700000000|{'a' * 16}",
        "/usr/local/share/hardening/docs/sla.md|0|1700000000|",
        "#end",
    ]
    assert DocumentFiles().process(output) == {
        "runbooks/rollback.md": {"size": 120, "mtime": 1700000000, "digest": "a" * 16},
        "docs/sla.md": {"size": 0, "mtime": 1700000000, "digest": ""},
    }


def test_access_control_parser() -> None:
    output = [
        "user|root|0|/bin/bash",
        "user|alice|1000|/bin/bash",
        "sudo|alice",
        "sudoers|90-ops",
        "key|alice|SHA256:abc (ED25519)",
        "role|postgres|t|t|t|t|t|t",
        "role|app|t|f|f|f|f|f",
        "#redis-unreadable",
        "#end",
    ]
    access = AccessControl().process(output)
    alice = access["users"][0]
    assert alice == {
        "name": "alice", "uid": 1000, "shell": "/bin/bash", "sudo": True,
        "keys": ["SHA256:abc (ED25519)"],
    }  # fmt: skip
    assert access["users"][1]["sudo"] is True  # root
    assert access["pg_roles"][1] == {
        "name": "app", "login": True, "superuser": False, "createrole": False,
        "createdb": False, "replication": False, "bypassrls": False,
    }  # fmt: skip
    assert access["redis_users"] is None and access["sudoers"] == ["90-ops"]
    assert AccessControl().process(["#pg-absent", "redis|default", "#end"])["pg_roles"] is None


def test_small_fact_parsers() -> None:
    assert SshClientAddress().process(["client:10.77.1.1"]) == "10.77.1.1"
    assert SshClientAddress().process(["client:"]) == ""
    assert UnitLoadState().process(["state:not-found"]) == "not-found"


def restart(**result: Any) -> dict:
    return {"exists": True, "ok": True, "finished": time.time(), "rto_seconds": 3.2, **result}


@pytest.mark.parametrize(
    ("result", "status", "text"),
    [
        ({"exists": False}, Status.FAIL, "no measured"),
        (restart(), Status.PASS, "measured 3.2 s"),
        (restart(rto_seconds=20000), Status.FAIL, "target < 14400"),
        (restart(ok=False, error="health gate"), Status.FAIL, "health gate"),
    ],
)
def test_rto_noncritical(result: dict, status: Status, text: str) -> None:
    outcome = judge("dr.rto_noncritical", context({RestoreDrillResult: result}))
    assert outcome.status == status and text in outcome.evidence


def test_rto_noncritical_not_applicable_off_web_hosts() -> None:
    outcome = judge("dr.rto_noncritical", context({}, groups=("db_replica",)))
    assert outcome.status == Status.NOT_APPLICABLE


def drill(age_days: float, ok: bool = True) -> dict:
    steps = {"restore": "ok" if ok else "failed", "app_restart": "skipped"}
    finished = time.time() - age_days * 86400
    return {"exists": True, "ok": ok, "finished": finished, "steps": steps, "error": ""}


@pytest.mark.parametrize(
    ("facts", "status"),
    [
        ({RestoreDrillResult: drill(3)}, Status.PASS),
        ({RestoreDrillResult: drill(40)}, Status.FAIL),
        ({RestoreDrillResult: drill(1, ok=False)}, Status.FAIL),
        ({RestoreDrillResult: {"exists": False}, File: {"mode": 644}}, Status.PENDING),
        ({RestoreDrillResult: {"exists": False}}, Status.FAIL),
    ],
)
def test_dr_drill(facts: dict, status: Status) -> None:
    assert judge("dr.drill", context(facts)).status == status
    assert judge("dr.drill", context(facts, groups=("web",))).status == Status.NOT_APPLICABLE


def test_runbooks_command_writes_documents(tmp_path: Path, monkeypatch) -> None:
    inventory = tmp_path / "inv.py"
    inventory.write_text("web = [('w1', {'ssh_hostname': '10.1.1.1'})]\ndb_primary = ['d1']\n")
    monkeypatch.chdir(tmp_path)
    parser = argparse.ArgumentParser()
    handlers = add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["runbooks", "--inventory", str(inventory), "-o", "out"])
    assert handlers[args.command](args) == 0
    text = (tmp_path / "out/runbooks/application-restart.md").read_text()
    assert "Web hosts: w1." in text
    args = parser.parse_args(["runbooks", "-i", "missing.py", "-o", "out"])
    assert handlers["runbooks"](args) == 2


class FakeHost:
    def __init__(self, name: str, ok: bool) -> None:
        self.name, self.ok, self.ran = name, ok, False

    def run_shell_command(self, command: Any, print_output: bool = False) -> tuple:
        self.ran = True
        return self.ok, SimpleNamespace(stdout_lines=["health gate: not 2xx"])

    def log_styled(self, *args: Any, **kwargs: Any) -> None:
        pass


def test_rolling_restart_stops_after_a_failed_gate(monkeypatch) -> None:
    from hardening.operations import runbooks as ops

    monkeypatch.setattr(ops, "STOPPED_ROLL", [])
    state = SimpleNamespace(print_output=False)
    hosts = [FakeHost("w1", True), FakeHost("w2", False), FakeHost("w3", True)]
    assert [ops._gated_restart(state, host, "restart") for host in hosts] == [True, False, False]
    assert hosts[1].ran and not hosts[2].ran
    assert ops.STOPPED_ROLL == ["w2"]
