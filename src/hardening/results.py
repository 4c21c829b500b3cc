"""Results: what a check concluded about one checklist item on one host.

A result never carries a secret: evidence is the observed value as a person
would read it (``"requirepass set (32 chars)"``, never the password).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """The six outcomes an item can have on a host."""

    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not_applicable"
    ATTESTED = "attested"
    PENDING = "pending"
    UNCHECKED = "unchecked"

    @property
    def label(self) -> str:
        """Human label: ``not applicable`` rather than ``not_applicable``."""
        return self.value.replace("_", " ")


#: Statuses that count as "the item is satisfied".
SATISFIED = frozenset({Status.PASS, Status.ATTESTED, Status.NOT_APPLICABLE})


@dataclass(frozen=True)
class Outcome:
    """What a check function returns: a status, the evidence and, if it fails, a fix.

    + status: the verdict
    + evidence: what was observed (no secrets)
    + fix: what to do about it, when the status is not pass
    """

    status: Status
    evidence: str
    fix: str = ""

    @classmethod
    def passed(cls, evidence: str) -> Outcome:
        return cls(Status.PASS, evidence)

    @classmethod
    def failed(cls, evidence: str, fix: str = "") -> Outcome:
        return cls(Status.FAIL, evidence, fix)

    @classmethod
    def not_applicable(cls, reason: str) -> Outcome:
        return cls(Status.NOT_APPLICABLE, reason)

    @classmethod
    def judge(cls, problems: list[str], evidence: list[str], fix: str = "") -> Outcome:
        """Failed with the ``problems`` first when there are any, else passed; the
        ``evidence`` (observations) is reported either way, joined with ``; ``."""
        if problems:
            return cls.failed("; ".join(problems + evidence), fix=fix)
        return cls.passed("; ".join(evidence))

    @classmethod
    def pending(cls, evidence: str, fix: str = "") -> Outcome:
        return cls(Status.PENDING, evidence, fix)


@dataclass(frozen=True)
class Result:
    """One item on one host, ready to be rendered.

    + item_id / host: what and where
    + status / evidence / fix: see ``Outcome``
    + check: name of the check that produced it (empty for unchecked items)
    + duration_ms: time the check itself took, fact gathering included
    """

    item_id: str
    host: str
    status: Status
    evidence: str
    fix: str = ""
    check: str = ""
    duration_ms: float = 0.0
    extra: dict = field(default_factory=dict)
