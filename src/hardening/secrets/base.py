"""The one interface through which operations and the rotation engine reach secrets.

A *credential* (``postgres-app``, ``redis-app``, ...) is a small JSON object (e.g.
``{"username": "app_a", "password": "..."}``) kept in a backend in up to three stages,
which is also the persisted state of its rotation::

    current   what applications read and use now
    pending   generated, stored, not yet promoted (at most one at a time)
    previous  the one before ``current``; still valid on hosts until revoked after grace

Backends (``vault.VaultBackend``: KV v2 with check-and-set; ``aws.AwsBackend``: Secrets
Manager staging labels) implement ``SecretsBackend``. Every change is conditional on
the ``Record.version`` it was computed from, so two runs never both win.
"""

from __future__ import annotations

import secrets as _rng
import string
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from hardening.errors import HardeningError

ALPHABET = string.ascii_letters + string.digits


class SecretsBackendError(HardeningError):
    """A secrets backend problem, said in one line without any secret value."""


class BackendUnreachable(SecretsBackendError):
    """The backend did not answer (address, TLS, network)."""


class AccessDenied(SecretsBackendError):
    """The backend refused the token or credentials (expired, revoked, no policy)."""


class SecretMissing(SecretsBackendError):
    """A secret the operation needs does not exist in the backend."""


class ConcurrentChange(SecretsBackendError):
    """Someone else changed the secret since it was read (check-and-set lost)."""


def generate_password(length: int = 40) -> str:
    """A password of ``length`` letters and digits from the OS's cryptographic RNG."""
    return "".join(_rng.choice(ALPHABET) for _ in range(length))


@dataclass
class Record:
    """One credential in a backend: its stages and the rotation bookkeeping.

    + current / pending / previous: the stage values (``None`` when absent)
    + promoted_at: UNIX time ``current`` was promoted (or created)
    + previous_revoked: the hosts no longer accept ``previous``
    + version: opaque check-and-set token of what was read (``None``: does not exist)
    """

    current: dict[str, str] | None = None
    pending: dict[str, str] | None = None
    previous: dict[str, str] | None = None
    promoted_at: float | None = None
    previous_revoked: bool = True
    version: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.current is not None

    def age_days(self, now: float | None = None) -> float | None:
        """Days since ``current`` was promoted, ``None`` when unknown."""
        if self.promoted_at is None:
            return None
        return ((now or time.time()) - self.promoted_at) / 86400

    def __repr__(self) -> str:  # never print values
        stages = [s for s in ("current", "pending", "previous") if getattr(self, s)]
        return f"Record(stages={stages}, promoted_at={self.promoted_at}, version={self.version})"


class SecretsBackend(ABC):
    """Where credentials live. Implementations raise ``SecretsBackendError`` subclasses."""

    #: short name used in settings and evidence ("vault", "aws")
    kind: str = ""

    @abstractmethod
    def describe(self) -> str:
        """Where the secrets are, for people (address, mount, prefix); no token."""

    @abstractmethod
    def ping(self) -> None:
        """Raise unless the backend answers and accepts the credentials."""

    @abstractmethod
    def load(self, name: str) -> Record:
        """The credential ``name``; an empty ``Record`` (``exists`` False) when absent."""

    @abstractmethod
    def create(self, name: str, value: dict[str, str]) -> Record:
        """Store ``value`` as the first ``current``; ``ConcurrentChange`` if it exists."""

    @abstractmethod
    def stage_pending(self, name: str, record: Record, value: dict[str, str]) -> Record:
        """Store ``value`` as ``pending`` (the record must have none)."""

    @abstractmethod
    def promote(self, name: str, record: Record) -> Record:
        """pending -> current, current -> previous (not yet revoked), now -> promoted_at."""

    @abstractmethod
    def mark_previous_revoked(self, name: str, record: Record) -> Record:
        """Record that hosts no longer accept ``previous``."""

    def ensure(self, name: str, make: Any) -> Record:
        """The credential ``name``, created with ``make()`` first if it does not exist."""
        record = self.load(name)
        if record.exists:
            return record
        try:
            return self.create(name, make())
        except ConcurrentChange:
            return self.load(name)
