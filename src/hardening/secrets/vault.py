"""HashiCorp Vault / OpenBao KV v2 backend (hvac), every write with check-and-set.

Each credential is one KV v2 secret ``<mount>/<path_prefix>/<name>`` whose data is::

    {"current": {...}, "pending": {...} | absent, "previous": {...} | absent,
     "promoted_at": "1712345678.9", "previous_revoked": "true"}

Applications read ``data.current``. The token comes from ``VAULT_TOKEN`` or a token
file (never from a command line); TLS is verified unless ``verify`` is false.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import hvac
import requests
from hvac import exceptions as hvac_errors

from hardening.secrets.base import (
    AccessDenied,
    BackendUnreachable,
    ConcurrentChange,
    Record,
    SecretMissing,
    SecretsBackend,
    SecretsBackendError,
)

_STAGES = ("current", "pending", "previous")


def read_token(token_file: str = "") -> str:
    """``VAULT_TOKEN`` from the environment, else the first line of ``token_file``."""
    token = os.environ.get("VAULT_TOKEN", "").strip()
    if not token and token_file:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as error:
            raise AccessDenied(
                f"cannot read the Vault token file {token_file}: {error.strerror}"
            ) from None
    if not token:
        raise AccessDenied("no Vault token: set VAULT_TOKEN or secrets_backend.token_file")
    return token


class VaultBackend(SecretsBackend):
    """KV v2 on Vault or OpenBao.

    + address: ``https://vault.example.net:8200``
    + mount: KV v2 mount point (``secret``)
    + path_prefix: folder of hardening's credentials (``hardening``)
    + token: a token (normally from ``read_token``)
    + verify: TLS verification (``True``, ``False`` or a CA bundle path)

    **Example:**

    .. code:: python

        backend = VaultBackend("https://vault:8200", token=read_token())
        record = backend.ensure("redis-app", lambda: {"password": generate_password()})
    """

    kind = "vault"

    def __init__(
        self,
        address: str,
        *,
        token: str,
        mount: str = "secret",
        path_prefix: str = "hardening",
        verify: bool | str = True,
        timeout: float = 10,
    ) -> None:
        self.address = address.rstrip("/")
        self.mount = mount
        self.path_prefix = path_prefix.strip("/")
        self.client = hvac.Client(url=self.address, token=token, verify=verify, timeout=timeout)

    def describe(self) -> str:
        return f"vault {self.address} kv2 {self.mount}/{self.path_prefix}"

    def _path(self, name: str) -> str:
        return f"{self.path_prefix}/{name}" if self.path_prefix else name

    def _call(self, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one hvac call, turning its errors into one-line ``SecretsBackendError``s."""
        try:
            return function(*args, **kwargs)
        except requests.exceptions.RequestException as error:
            raise BackendUnreachable(
                f"secrets backend {self.address} unreachable while trying to {what}: "
                f"{type(error).__name__}"
            ) from None
        except (hvac_errors.Forbidden, hvac_errors.Unauthorized):
            raise AccessDenied(
                f"secrets backend {self.address} denied the token while trying to {what}: "
                "check that it is valid and its policy allows "
                f"{self.mount}/data/{self.path_prefix}/*"
            ) from None
        except hvac_errors.InvalidPath:
            raise SecretMissing(f"{what}: not found in {self.describe()}") from None
        except hvac_errors.InvalidRequest as error:
            if "check-and-set" in str(error):
                raise ConcurrentChange(f"{what}: changed concurrently, retry") from None
            raise SecretsBackendError(f"{what}: refused by {self.address}: {error}") from None
        except hvac_errors.VaultError as error:
            raise SecretsBackendError(f"{what}: {self.address} failed: {error}") from None

    def ping(self) -> None:
        self._call("look up its token", self.client.auth.token.lookup_self)

    def load(self, name: str) -> Record:
        kv = self.client.secrets.kv.v2
        try:
            answer = self._call(
                f"read {name}",
                kv.read_secret_version,
                path=self._path(name),
                mount_point=self.mount,
                raise_on_deleted_version=False,
            )
        except SecretMissing:
            return Record(version=0)
        data = answer["data"]["data"] or {}
        version = answer["data"]["metadata"]["version"]
        stages = {stage: _decode(data.get(stage)) for stage in _STAGES}
        return Record(
            **stages,
            promoted_at=float(data["promoted_at"]) if data.get("promoted_at") else None,
            previous_revoked=str(data.get("previous_revoked", "true")) == "true",
            version=version,
        )

    def _write(self, name: str, record: Record, what: str) -> Record:
        data = {stage: json.dumps(getattr(record, stage)) for stage in _STAGES}
        data = {key: value for key, value in data.items() if value != "null"}
        data["promoted_at"] = f"{record.promoted_at:.3f}" if record.promoted_at else ""
        data["previous_revoked"] = "true" if record.previous_revoked else "false"
        answer = self._call(
            what,
            self.client.secrets.kv.v2.create_or_update_secret,
            path=self._path(name),
            secret=data,
            cas=record.version or 0,
            mount_point=self.mount,
        )
        record.version = answer["data"]["version"]
        return record

    def create(self, name: str, value: dict[str, str]) -> Record:
        record = Record(current=value, promoted_at=time.time(), version=0)
        return self._write(name, record, f"create {name}")

    def stage_pending(self, name: str, record: Record, value: dict[str, str]) -> Record:
        if record.pending:
            raise ConcurrentChange(f"{name} already has a pending value")
        staged = Record(**{**record.__dict__, "pending": value})
        return self._write(name, staged, f"stage a pending {name}")

    def promote(self, name: str, record: Record) -> Record:
        promoted = Record(
            current=record.pending,
            previous=record.current,
            promoted_at=time.time(),
            previous_revoked=False,
            version=record.version,
        )
        return self._write(name, promoted, f"promote the pending {name}")

    def mark_previous_revoked(self, name: str, record: Record) -> Record:
        done = Record(**{**record.__dict__, "previous_revoked": True})
        return self._write(name, done, f"mark the previous {name} revoked")


def _decode(text: Any) -> dict[str, str] | None:
    if not text:
        return None
    return json.loads(text) if isinstance(text, str) else dict(text)
