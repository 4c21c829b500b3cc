"""AWS Secrets Manager backend (boto3) using the service's own staging labels.

Each credential is one secret ``<path_prefix>/<name>`` whose versions carry the labels
``AWSCURRENT`` (what applications read), ``AWSPENDING`` (generated, not promoted) and
``AWSPREVIOUS`` (moved there by Secrets Manager when ``AWSCURRENT`` moves). The
rotation bookkeeping (promotion time, previous revoked) is kept in the secret's tags.
Credentials come from boto3's standard chain (environment, profile, instance role).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from hardening.secrets.base import (
    AccessDenied,
    BackendUnreachable,
    ConcurrentChange,
    Record,
    SecretMissing,
    SecretsBackend,
    SecretsBackendError,
)

_PROMOTED, _REVOKED = "hardening:promoted_at", "hardening:previous_revoked"
_DENIED = {"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException"}


class AwsBackend(SecretsBackend):
    """Secrets Manager.

    + region: AWS region (``eu-west-1``)
    + path_prefix: name prefix of hardening's secrets (``hardening``)
    + endpoint_url: another endpoint (a VPC endpoint, or moto in tests)

    **Example:**

    .. code:: python

        backend = AwsBackend("eu-west-1")
        record = backend.ensure("postgres-app", make_credential)
    """

    kind = "aws"

    def __init__(
        self, region: str = "us-east-1", *, path_prefix: str = "hardening", endpoint_url: str = ""
    ) -> None:
        self.region = region
        self.path_prefix = path_prefix.strip("/")
        self.endpoint_url = endpoint_url or None
        config = botocore.config.Config(
            connect_timeout=5, read_timeout=10, retries={"max_attempts": 2}
        )
        self.client = boto3.client(
            "secretsmanager", region_name=region, endpoint_url=self.endpoint_url, config=config
        )

    def describe(self) -> str:
        where = self.endpoint_url or f"region {self.region}"
        return f"aws secretsmanager {where} prefix {self.path_prefix}"

    def _id(self, name: str) -> str:
        return f"{self.path_prefix}/{name}" if self.path_prefix else name

    def _call(self, what: str, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(**kwargs)
        except (
            botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ReadTimeoutError,
        ):
            raise BackendUnreachable(
                f"secrets backend {self.describe()} unreachable while trying to {what}"
            ) from None
        except botocore.exceptions.NoCredentialsError:
            raise AccessDenied(f"no AWS credentials to {what} (environment or profile)") from None
        except botocore.exceptions.ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in _DENIED:
                raise AccessDenied(
                    f"AWS denied the credentials while trying to {what} ({code})"
                ) from None
            if code == "ResourceNotFoundException":
                raise SecretMissing(f"{what}: not found in {self.describe()}") from None
            if code in ("ResourceExistsException", "InvalidRequestException"):
                raise ConcurrentChange(f"{what}: changed concurrently ({code}), retry") from None
            raise SecretsBackendError(f"{what}: AWS answered {code}") from None

    def ping(self) -> None:
        self._call("list secrets", "list_secrets", MaxResults=1)

    def _value(self, name: str, version_id: str | None) -> dict[str, str] | None:
        if not version_id:
            return None
        answer = self._call(
            f"read {name}", "get_secret_value", SecretId=self._id(name), VersionId=version_id
        )
        return json.loads(answer["SecretString"])

    def load(self, name: str) -> Record:
        try:
            meta = self._call(f"describe {name}", "describe_secret", SecretId=self._id(name))
        except SecretMissing:
            return Record()
        by_label: dict[str, str] = {}
        for version_id, labels in (meta.get("VersionIdsToStages") or {}).items():
            for label in labels:
                by_label[label] = version_id
        tags = {tag["Key"]: tag["Value"] for tag in meta.get("Tags") or []}
        current_id, pending_id = by_label.get("AWSCURRENT"), by_label.get("AWSPENDING")
        if pending_id == current_id:
            pending_id = None
        return Record(
            current=self._value(name, current_id),
            pending=self._value(name, pending_id),
            previous=self._value(name, by_label.get("AWSPREVIOUS")),
            promoted_at=float(tags[_PROMOTED]) if tags.get(_PROMOTED) else None,
            previous_revoked=tags.get(_REVOKED, "true") == "true",
            version={"current": current_id, "pending": pending_id},
        )

    def _tag(self, name: str, **tags: str) -> None:
        self._call(
            f"tag {name}",
            "tag_resource",
            SecretId=self._id(name),
            Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
        )

    def _check_unchanged(self, name: str, record: Record) -> None:
        if self.load(name).version != record.version:
            raise ConcurrentChange(f"{name} changed since it was read, retry")

    def create(self, name: str, value: dict[str, str]) -> Record:
        self._call(
            f"create {name}",
            "create_secret",
            Name=self._id(name),
            SecretString=json.dumps(value),
            Tags=[
                {"Key": _PROMOTED, "Value": f"{time.time():.3f}"},
                {"Key": _REVOKED, "Value": "true"},
            ],
        )
        return self.load(name)

    def stage_pending(self, name: str, record: Record, value: dict[str, str]) -> Record:
        if record.pending:
            raise ConcurrentChange(f"{name} already has a pending value")
        self._check_unchanged(name, record)
        # Deterministic request token: a second pending for the same current is refused.
        token = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self._id(name)}#{record.version['current']}"))
        self._call(
            f"stage a pending {name}",
            "put_secret_value",
            SecretId=self._id(name),
            ClientRequestToken=token,
            SecretString=json.dumps(value),
            VersionStages=["AWSPENDING"],
        )
        return self.load(name)

    def promote(self, name: str, record: Record) -> Record:
        self._check_unchanged(name, record)
        versions = record.version
        self._tag(name, **{_REVOKED: "false"})
        self._call(
            f"promote the pending {name}",
            "update_secret_version_stage",
            SecretId=self._id(name),
            VersionStage="AWSCURRENT",
            MoveToVersionId=versions["pending"],
            RemoveFromVersionId=versions["current"],
        )
        self._call(
            f"clear the pending label of {name}",
            "update_secret_version_stage",
            SecretId=self._id(name),
            VersionStage="AWSPENDING",
            RemoveFromVersionId=versions["pending"],
        )
        self._tag(name, **{_PROMOTED: f"{time.time():.3f}"})
        return self.load(name)

    def mark_previous_revoked(self, name: str, record: Record) -> Record:
        self._tag(name, **{_REVOKED: "true"})
        return self.load(name)
