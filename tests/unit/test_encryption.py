"""SEC-09 judged on canned facts."""

from __future__ import annotations

from typing import Any

from hardening.checks import HostContext, registry
from hardening.facts.host import Virtualization
from hardening.facts.pgbackrest import PgbackrestConfig
from hardening.facts.storage import DirectoryEncryption
from hardening.results import Status

CHECK = registry()["tls.encryption_at_rest"]
OVERLAY = {
    "path": "/d",
    "exists": True,
    "source": "overlay",
    "fstype": "overlay",
    "block_device": False,
    "crypt": False,
    "chain": [],
}
LUKS = {
    **OVERLAY,
    "source": "/dev/mapper/pg",
    "fstype": "ext4",
    "block_device": True,
    "crypt": True,
    "chain": ["pg crypt", "vdb disk"],
}
PLAIN = {**LUKS, "crypt": False, "chain": ["vdb disk"]}
ENCRYPTED_REPO = {
    "exists": True,
    "options": {"global": {"repo1-cipher-type": "aes-256-cbc", "repo1-cipher-pass": "set"}},
}


def ctx(facts: dict[type, Any]) -> HostContext:
    return HostContext("h", ("db_primary",), {}, lambda cls, **kw: facts[cls])


def test_fact_parses_lsblk_chain() -> None:
    fact = DirectoryEncryption().process(
        ["#path:/d", "#mount:/dev/mapper/pg ext4", "#dev:pg  crypt", "#dev:vdb disk"]
    )
    assert fact["crypt"] and fact["chain"] == ["pg crypt", "vdb disk"]
    assert DirectoryEncryption().process(["#path:/x", "#absent"])["exists"] is False


def test_luks_and_encrypted_repo_pass() -> None:
    outcome = CHECK(
        ctx(
            {
                DirectoryEncryption: LUKS,
                PgbackrestConfig: ENCRYPTED_REPO,
                Virtualization: {"container": "none"},
            }
        )
    )
    assert outcome.status is Status.PASS and "dm-crypt" in outcome.evidence


def test_container_overlay_is_reported_not_judged() -> None:
    outcome = CHECK(
        ctx(
            {
                DirectoryEncryption: OVERLAY,
                PgbackrestConfig: ENCRYPTED_REPO,
                Virtualization: {"container": "lxc"},
            }
        )
    )
    assert outcome.status is Status.PASS and "not observable" in outcome.evidence


def test_plain_disk_or_unencrypted_repo_fail() -> None:
    plain = CHECK(
        ctx(
            {
                DirectoryEncryption: PLAIN,
                PgbackrestConfig: ENCRYPTED_REPO,
                Virtualization: {"container": "none"},
            }
        )
    )
    assert plain.status is Status.FAIL and "unencrypted block device" in plain.evidence
    no_repo = CHECK(
        ctx(
            {
                DirectoryEncryption: OVERLAY,
                PgbackrestConfig: {"exists": False, "options": {}},
                Virtualization: {"container": "lxc"},
            }
        )
    )
    assert no_repo.status is Status.FAIL and "no backup repository" in no_repo.evidence
