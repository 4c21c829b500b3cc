"""Encryption at rest: the LUKS volume fact parser, the operation's refusals and commands
(fake host), and SEC-09 for RDS instances against a real moto server."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from pyinfra.api.exceptions import OperationError

from hardening import cloud
from hardening.checks import HostContext, registry
from hardening.facts.host import Virtualization
from hardening.facts.pgbackrest import PgbackrestConfig
from hardening.facts.storage import DirectoryEncryption, LuksVolume
from hardening.operations import storage
from hardening.results import Status
from tests.unit.test_cloud import moto_url  # noqa: F401 (module-scoped moto server fixture)
from tests.unit.test_encryption import ENCRYPTED_REPO, OVERLAY
from tests.unit.test_monitoring_operations import FakeHost, commands, text

CHECK = registry()["tls.encryption_at_rest"]
KEY = "/etc/hardening/luks/pgdata.key"
UUID = "1c4e0f7a-0000-4000-8000-000000000001"
BLANK = {
    **LuksVolume.default(),
    "device": "/dev/vdb",
    "block_device": True,
    "device_mapper": True,
    "owner_exists": True,
}
DONE = {
    **BLANK,
    "signatures": {"TYPE": "crypto_LUKS", "VERSION": "2", "LABEL": "pgdata", "UUID": UUID},
    "luks": True,
    "key_file": {"mode": "600", "owner": "root", "size": 64},
    "key_opens": True,
    "open": True,
    "filesystem": "ext4",
    "mounted": "/dev/mapper/pgdata ext4",
    "mount_point": {"owner": "postgres", "mode": "700", "entries": 3},
    "crypttab": storage.crypttab_line("pgdata", UUID, KEY),
    "fstab": storage.fstab_line("pgdata", "/var/lib/postgresql"),
}
VOLUME = {"device": "/dev/vdb", "mapping": "pgdata", "mount_point": "/var/lib/postgresql"}


def volume(fact: dict) -> tuple[list[str], FakeHost]:
    fake = FakeHost(LuksVolume=fact)
    return [text(c) for c in commands(storage.luks_volume, fake, **VOLUME)], fake


def test_fact_parses_probe_output_and_never_reads_the_key() -> None:
    fact = LuksVolume().process(
        [
            "#device:/dev/vdb",
            "#dm:no",
            "#key:600 root 64",
            "#owner_exists",
            "#mp:postgres 700 3",
            "#mounted:/dev/mapper/pgdata ext4",
            "#crypttab:pgdata  UUID=abc /k luks",
            "#open:yes",
            "#fs:ext4",
            "#block",
            "#sig:TYPE=crypto_LUKS",
            "#sig:LABEL=pgdata",
            "#luks",
            "#key_opens",
        ]
    )
    assert fact["device_mapper"] is False and fact["dm_module"] is False
    assert fact["signatures"] == {"TYPE": "crypto_LUKS", "LABEL": "pgdata"}
    assert fact["key_file"] == {"mode": "600", "owner": "root", "size": 64}
    assert fact["mount_point"] == {"owner": "postgres", "mode": "700", "entries": 3}
    assert fact["crypttab"] == "pgdata UUID=abc /k luks" and fact["fstab"] == ""
    assert fact["luks"] and fact["key_opens"] and fact["open"] and fact["filesystem"] == "ext4"
    assert fact["owner_exists"]
    command = LuksVolume().command("/dev/vdb", "pgdata", "/var/lib/postgresql", KEY)
    raw = command.get_raw_value()
    assert "--test-passphrase --key-file" in raw and "cat " not in raw
    assert LuksVolume().process(["#device:/x", "#dm:yes"])["block_device"] is False


@pytest.mark.parametrize(
    ("fact", "expected"),
    [
        ({**BLANK, "block_device": False}, "/dev/vdb is not a block device"),
        (
            {**BLANK, "signatures": {"TYPE": "ext4", "UUID": "x"}},
            "refusing to format /dev/vdb: it carries data (TYPE=ext4)",
        ),
        ({**BLANK, "signatures": {"PTTYPE": "gpt"}}, "it carries data (PTTYPE=gpt)"),
        ({**DONE, "signatures": {"LABEL": "other"}}, "already a LUKS volume labelled 'other'"),
        ({**DONE, "key_opens": False}, f"a LUKS volume that {KEY} does not unlock"),
        ({**BLANK, "key_file": {"mode": "600", "owner": "root", "size": 0}}, "holds 0 bytes"),
        ({**BLANK, "device_mapper": False}, storage.NO_DEVICE_MAPPER),
        ({**BLANK, "mount_point": {"owner": "root", "mode": "755", "entries": 2}}, "not empty"),
        ({**BLANK, "owner_exists": False}, "user postgres does not exist"),
    ],
)
def test_refusals_are_decided_before_any_command(fact: dict, expected: str) -> None:
    fake = FakeHost(LuksVolume=fact)
    with pytest.raises(OperationError) as raised:
        commands(storage.luks_volume, fake, **VOLUME)
    assert expected in str(raised.value) and "\n" not in str(raised.value)


def test_bad_names_are_refused() -> None:
    with pytest.raises(OperationError, match="mapping 'a b'"):
        commands(storage.luks_volume, FakeHost(LuksVolume=BLANK), **{**VOLUME, "mapping": "a b"})
    with pytest.raises(OperationError, match="mount point"):
        commands(
            storage.luks_volume, FakeHost(LuksVolume=BLANK), **{**VOLUME, "mount_point": "x;y"}
        )


def test_blank_device_is_formatted_opened_made_ext4_registered_and_mounted() -> None:
    done, _ = volume(BLANK)
    assert done[0].startswith("install -d -m 0700 -o root -g root /etc/hardening/luks && (umask")
    assert f"head -c 64 /dev/urandom > {KEY}.tmp" in done[0]
    assert done[1].startswith("if blkid -p /dev/vdb >/dev/null 2>&1; then echo 'refusing")
    assert (
        "cryptsetup luksFormat --batch-mode --type luks2 --cipher aes-xts-plain64 "
        f"--key-size 512 --label pgdata --key-file {KEY} /dev/vdb"
    ) in done[1]
    assert done[2] == f"cryptsetup open --type luks2 --key-file {KEY} /dev/vdb pgdata"
    assert done[3] == (
        "blkid -p /dev/mapper/pgdata >/dev/null 2>&1 || mkfs.ext4 -q -L pgdata /dev/mapper/pgdata"
    )
    assert "/etc/crypttab" in done[4] and "$(blkid -p -s UUID -o value /dev/vdb)" in done[4]
    assert "/etc/fstab" in done[5] and "/dev/mapper/pgdata /var/lib/postgresql ext4" in done[5]
    assert done[6] == "systemctl daemon-reload 2>/dev/null || true"
    assert done[7] == "mkdir -p /var/lib/postgresql && mount /var/lib/postgresql"
    assert done[8] == "chown postgres: /var/lib/postgresql && chmod 0700 /var/lib/postgresql"
    assert len(done) == 9


def test_complete_volume_changes_nothing_and_says_why() -> None:
    done, fake = volume(DONE)
    assert done == []
    assert "/dev/mapper/pgdata is open" in fake.noops
    assert "/var/lib/postgresql is mounted from /dev/mapper/pgdata" in fake.noops


def test_existing_volume_of_ours_is_opened_and_mounted_never_formatted() -> None:
    closed = {**DONE, "open": False, "filesystem": "", "mounted": "", "mount_point": None}
    done, _ = volume(closed)
    assert not any("luksFormat" in line for line in done)
    assert done[0].startswith("cryptsetup open")
    assert done[1].startswith("blkid -p /dev/mapper/pgdata >/dev/null 2>&1 || mkfs.ext4")
    assert done[2].startswith("mkdir -p /var/lib/postgresql && mount")
    loose_key = {**DONE, "key_file": {"mode": "644", "owner": "root", "size": 64}}
    assert volume(loose_key)[0] == [f"chown root:root {KEY}", f"chmod 0600 {KEY}"]


def test_module_loaded_when_the_kernel_can() -> None:
    done, _ = volume({**BLANK, "device_mapper": False, "dm_module": True})
    assert done[2] == "modprobe dm_mod"


def ctx(facts: dict[type, Any], data: dict[str, Any] | None = None) -> HostContext:
    return HostContext("h", ("db_primary",), data or {}, lambda cls, **kw: facts[cls])


def test_container_reason_names_the_missing_device_mapper() -> None:
    facts = {
        DirectoryEncryption: {**OVERLAY, "device_mapper": False},
        PgbackrestConfig: ENCRYPTED_REPO,
        Virtualization: {"container": "lxc"},
    }
    outcome = CHECK(ctx(facts))
    assert outcome.status is Status.PASS
    assert "the kernel has no device-mapper (dm_mod)" in outcome.evidence
    facts[DirectoryEncryption] = OVERLAY
    assert "device-mapper" not in CHECK(ctx(facts)).evidence


@pytest.fixture
def rds(moto_url: str) -> dict[str, Any]:  # noqa: F811
    """An encrypted (KMS) and an unencrypted PostgreSQL instance in a fresh moto account."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"))
    cloud.clear_cache()
    kwargs = {"region_name": "us-east-1", "endpoint_url": moto_url}
    key = boto3.client("kms", **kwargs).create_key()["KeyMetadata"]["Arn"]
    aws = boto3.client("rds", **kwargs)
    for name, encrypted in (("app-db", True), ("old-db", False)):
        aws.create_db_instance(
            DBInstanceIdentifier=name,
            Engine="postgres",
            DBInstanceClass="db.t3.micro",
            AllocatedStorage=20,
            MasterUsername="app",
            MasterUserPassword="not-a-real-secret-1",
            StorageEncrypted=encrypted,
            **({"KmsKeyId": key} if encrypted else {}),
        )
    return {"url": moto_url, "key": key}


def on_rds(url: str, *instances: str) -> dict[str, Any]:
    return {"cloud": {"provider": "aws", "endpoint_url": url, "rds_instances": list(instances)}}


NO_LOCAL_DATA = {DirectoryEncryption: {**OVERLAY, "exists": False}}


def test_rds_encrypted_instance_passes_with_the_kms_key(rds: dict) -> None:
    outcome = CHECK(ctx(NO_LOCAL_DATA, on_rds(rds["url"], "app-db")))
    assert outcome.status is Status.PASS, outcome.evidence
    assert outcome.evidence == f"RDS app-db: StorageEncrypted (KMS key {rds['key']})"
    assert "not-a-real-secret-1" not in outcome.evidence
    config = cloud.config_from(on_rds(rds["url"], "app-db"))
    assert config is not None
    assert cloud.status(config)["rds"]["instances"][0]["kms_key_id"] == rds["key"]


def test_rds_unencrypted_or_missing_instance_fails_with_the_way_out(rds: dict) -> None:
    outcome = CHECK(ctx(NO_LOCAL_DATA, on_rds(rds["url"], "app-db", "old-db", "gone-db")))
    assert outcome.status is Status.FAIL
    assert "RDS old-db: storage not encrypted (StorageEncrypted false)" in outcome.evidence
    assert f"RDS gone-db not found ({rds['url']})" in outcome.evidence
    assert "StorageEncrypted (KMS key" in outcome.evidence  # app-db still reported
    assert "snapshot it, copy the snapshot with --kms-key-id" in outcome.fix
    assert "LUKS" not in outcome.fix  # no local data directory: judged on RDS alone


def test_rds_access_denied_is_one_line(monkeypatch: pytest.MonkeyPatch, rds: dict) -> None:
    aws = boto3.client("rds", region_name="us-east-1", endpoint_url=rds["url"])
    stubber = Stubber(aws)
    stubber.add_client_error(
        "describe_db_instances",
        service_error_code="AccessDenied",
        service_message="User: arn:aws:iam::123456789012:user/audit is not authorized\n",
    )
    stubber.activate()
    monkeypatch.setattr(cloud, "client", lambda config, service: aws)
    outcome = CHECK(ctx(NO_LOCAL_DATA, on_rds(rds["url"], "app-db")))
    assert outcome.status is Status.FAIL and "\n" not in outcome.evidence
    assert outcome.evidence.startswith(
        "could not observe RDS: AWS rds describe_db_instances failed"
    )
    assert "AccessDenied: User: arn:aws:iam::123456789012:user/audit is not authorized" in (
        outcome.evidence
    )


def test_rds_setting_is_validated() -> None:
    problems = cloud.config_problems({"provider": "aws", "rds_instances": "app-db"})
    assert problems == [
        "cloud.rds_instances must be a list of DB instance identifiers, got 'app-db'"
    ]
    config = cloud.config_from({"cloud": {"provider": "aws", "rds_instances": ["a"]}})
    assert config is not None and config.rds_instances == ("a",)
