"""Signed human attestations and sign-off: the ledger the ``attest`` items are judged on.

28 checklist items are done by people, not by hosts (notify users, team training, the
four sign-offs, the quarterly reviews ...). A person records that such an item is done
in a small JSON record signed with their Ed25519 key; records live in the repository
(``attestations/``, one file per record) and every audit verifies them against a
keyring that says whose key may sign as which role::

    >>> from hardening import attest
    >>> public = attest.generate_key("keys/alice.pem")   # doctest: +SKIP
    >>> public                                           # doctest: +SKIP
    'ed25519:q2V0...='
    >>> attest.attest("TEAM-01", role="tech-lead", by="Alice",
    ...               evidence="https://wiki.example.net/oncall",
    ...               key="keys/alice.pem")              # doctest: +SKIP
    PosixPath('attestations/TEAM-01--tech-lead--20250101T120000Z.json')

A record counts only when its signature verifies, its key is in the keyring and the
keyring lets that key sign as the record's role; anything else counts as missing and
the audit says why. Recurring items (Ongoing Operations) expire after their cadence.
``sign_off`` refuses while a critical item fails in an audit report, unless the signer
explicitly waives each failing critical item in the signed record.

``add_commands`` adds the ``attest``, ``sign-off``, ``keygen`` and ``attestations``
subcommands to the ``hardening`` command line. ``docs/attestations.md`` is the guide.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import os
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hardening.catalog import CATALOG, Item, get_item
from hardening.errors import HardeningError
from hardening.results import Outcome, Status

#: Version of the record format; a record with another version does not count.
SCHEMA = 1
#: Prefix of a public key in records and keyrings: ``ed25519:<base64 of 32 raw bytes>``.
KEY_PREFIX = "ed25519:"

#: Environment: passphrase of the private key file (keygen encrypts with it, signing reads it).
PASSPHRASE_ENV = "HARDENING_KEY_PASSPHRASE"
#: Environment: the ledger directory (overrides the inventory's ``attestations_dir``).
LEDGER_ENV = "HARDENING_ATTESTATIONS"
#: Environment: the private key file used when ``--key`` is not given.
SIGNING_KEY_ENV = "HARDENING_SIGNING_KEY"
#: Inventory data key: the ledger directory.
LEDGER_DATA_KEY = "attestations_dir"
#: Inventory data key: the keyring mapping ``name -> {"key": ..., "roles": [...]}``.
KEYRING_DATA_KEY = "attestation_keyring"

DEFAULT_LEDGER = "attestations"
DEFAULT_KEY_PATH = "~/.config/hardening/signing-key.pem"
KEYRING_FILE = "keyring.json"

#: The role each sign-off item must be signed with.
SIGN_OFF_ROLES: dict[str, str] = {
    "SIGN-01": "product-owner",
    "SIGN-02": "devops-lead",
    "SIGN-03": "security-lead",
    "SIGN-04": "tech-lead",
}
#: Days an attestation of a recurring item stays valid, by catalog section name.
CADENCE_DAYS: dict[str, int] = {"Daily": 1, "Weekly": 7, "Monthly": 31, "Quarterly": 92}

#: Clock skew tolerated for a record's ``at`` lying in the future.
FUTURE_TOLERANCE = timedelta(minutes=5)
#: Fields every record has (``signature`` covers all others, extra fields included).
RECORD_FIELDS = (
    "schema",
    "item_id",
    "role",
    "by",
    "at",
    "evidence",
    "note",
    "expires",
    "waives",
    "key",
    "signature",
)

_ROLE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_RECORD_NAME = re.compile(
    r"(?P<item>[A-Z0-9]+(?:-[A-Z0-9]+)*)--(?P<role>[a-z0-9]+(?:-[a-z0-9]+)*)"
    r"--(?P<stamp>\d{8}T\d{6}Z)(?:-\d+)?\.json"
)
_MAX_ROLE = 40
_SHOWN_REJECTIONS = 3

PrivateKeySource = Ed25519PrivateKey | str | os.PathLike[str]
Handler = Callable[[argparse.Namespace], int]


# --- catalog helpers ------------------------------------------------------------------------


def attest_items() -> tuple[Item, ...]:
    """The catalog items people attest (kind ``attest``), sign-offs included."""
    return tuple(item for item in CATALOG if item.kind == "attest")


def cadence_days(item: Item) -> int | None:
    """Days an attestation of ``item`` stays valid; ``None`` when it does not expire.

    >>> cadence_days(get_item("OPS-W-04")), cadence_days(get_item("TEAM-01"))
    (7, None)
    """
    for part in item.section:
        if part in CADENCE_DAYS:
            return CADENCE_DAYS[part]
    return None


def attest_item(item_id: str) -> Item:
    """The attest item with this id; ``HardeningError`` for unknown or non-attest ids."""
    try:
        item = get_item(item_id)
    except KeyError:
        raise HardeningError(
            f"unknown checklist item {item_id!r} (see `hardening catalog --kind attest`)"
        ) from None
    if item.kind != "attest":
        raise HardeningError(
            f"{item.id} is not an attest item (kind {item.kind}, judged by {item.check}): only "
            "attest items are signed by people (see `hardening catalog --kind attest`)"
        )
    return item


def check_role(role: str) -> str:
    """``role`` if it is a lower-case slug such as ``tech-lead``, else ``HardeningError``."""
    if not isinstance(role, str) or len(role) > _MAX_ROLE or not _ROLE.fullmatch(role):
        raise HardeningError(
            f"invalid role {role!r}: use lower-case words joined by single hyphens, "
            "e.g. tech-lead or security-lead"
        )
    return role


# --- keys -------------------------------------------------------------------------------------


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as records and keyrings spell it: ``ed25519:<base64 of 32 bytes>``."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def parse_public_key(text: str) -> Ed25519PublicKey:
    """Read ``ed25519:<base64>``; ``ValueError`` saying what is wrong otherwise."""
    if not isinstance(text, str) or not text.startswith(KEY_PREFIX):
        raise ValueError(f"public key must start with {KEY_PREFIX!r}")
    try:
        raw = base64.b64decode(text[len(KEY_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("public key is not valid base64") from None
    if len(raw) != 32:
        raise ValueError(f"public key has {len(raw)} bytes, Ed25519 needs 32")
    return Ed25519PublicKey.from_public_bytes(raw)


def default_key_path() -> Path:
    """``$HARDENING_SIGNING_KEY`` or ``~/.config/hardening/signing-key.pem``."""
    return Path(os.environ.get(SIGNING_KEY_ENV) or DEFAULT_KEY_PATH).expanduser()


def generate_key(path: str | os.PathLike[str], passphrase: str | None = None) -> str:
    """Create an Ed25519 private key file (PEM, PKCS8, mode 0600); return the public key text.

    The file is encrypted with ``passphrase`` (default: ``$HARDENING_KEY_PASSPHRASE``;
    unencrypted when empty). An existing file is never overwritten.

    >>> generate_key("keys/alice.pem")  # doctest: +SKIP
    'ed25519:q2V0...='
    """
    target = Path(path).expanduser()
    if target.exists() or target.is_symlink():
        raise HardeningError(
            f"{target} already exists: refusing to overwrite a key "
            f"(`hardening keygen --show {target}` prints its public key)"
        )
    secret = os.environ.get(PASSPHRASE_ENV, "") if passphrase is None else passphrase
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(secret.encode("utf-8"))
        if secret
        else serialization.NoEncryption()
    )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        descriptor = os.open(target, flags, 0o600)
    except FileExistsError:
        raise HardeningError(f"{target} already exists: refusing to overwrite a key") from None
    except OSError as error:
        raise HardeningError(f"cannot create key file {target}: {error.strerror}") from None
    with os.fdopen(descriptor, "wb") as handle:
        if hasattr(os, "fchmod"):
            os.fchmod(handle.fileno(), 0o600)  # whatever the umask
        handle.write(pem)
    return public_key_text(key)


def load_private_key(path: str | os.PathLike[str] | None = None) -> Ed25519PrivateKey:
    """Read a key written by ``generate_key`` (default path: ``default_key_path()``).

    An encrypted key is opened with ``$HARDENING_KEY_PASSPHRASE``. Like ssh, a key file
    that other users may read is refused.
    """
    target = Path(path).expanduser() if path else default_key_path()
    if not target.is_file():
        raise HardeningError(
            f"no signing key at {target}: create one with `hardening keygen {target}` "
            "and add its public key to the keyring"
        )
    if os.name == "posix" and target.stat().st_mode & 0o077:
        mode = oct(target.stat().st_mode & 0o777)
        raise HardeningError(
            f"signing key {target} is accessible by other users (mode {mode}): chmod 600 {target}"
        )
    data = target.read_bytes()
    secret = os.environ.get(PASSPHRASE_ENV) or None
    try:
        try:
            key = serialization.load_pem_private_key(
                data, password=secret.encode("utf-8") if secret else None
            )
        except TypeError:
            if not secret:
                raise HardeningError(
                    f"signing key {target} is encrypted: set {PASSPHRASE_ENV}"
                ) from None
            key = serialization.load_pem_private_key(data, password=None)  # not encrypted
    except (ValueError, UnsupportedAlgorithm):
        raise HardeningError(
            f"cannot read signing key {target}: not a PEM private key or wrong {PASSPHRASE_ENV}"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise HardeningError(f"signing key {target} is not an Ed25519 key (use hardening keygen)")
    return key


def _private_key(source: PrivateKeySource | None) -> Ed25519PrivateKey:
    return source if isinstance(source, Ed25519PrivateKey) else load_private_key(source)


# --- records ----------------------------------------------------------------------------------


def canonical_bytes(record: Mapping[str, Any]) -> bytes:
    """What the signature covers: every field but ``signature``, as canonical JSON.

    Sorted keys, no whitespace, UTF-8::

        >>> canonical_bytes({"b": 1, "a": "é", "signature": "x"})
        b'{"a":"\\xc3\\xa9","b":1}'
    """
    payload = {key: value for key, value in record.items() if key != "signature"}
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _utc(moment: datetime | None) -> datetime:
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def make_record(
    item_id: str,
    role: str,
    by: str,
    evidence: str,
    key: PrivateKeySource | None,
    *,
    note: str = "",
    expires: date | str | None = None,
    waives: Iterable[str] = (),
    at: datetime | None = None,
) -> dict[str, Any]:
    """Build and sign a record (nothing is written; see ``write_record``).

    >>> record = make_record("TEAM-01", "tech-lead", "Al", "https://w/a", key)  # doctest: +SKIP
    >>> signature_problem(record)  # doctest: +SKIP
    ''
    """
    item = attest_item(item_id)
    check_role(role)
    if item.id in SIGN_OFF_ROLES and role != SIGN_OFF_ROLES[item.id]:
        raise HardeningError(
            f"{item.id} is the {SIGN_OFF_ROLES[item.id]} sign-off; role {role!r} cannot sign it"
        )
    waived = [waived_id(entry) for entry in waives]
    if waived and item.id not in SIGN_OFF_ROLES:
        raise HardeningError("waivers belong to sign-offs (SIGN-01..04) only")
    by, evidence = _one_line(by), _one_line(evidence)
    if not by:
        raise HardeningError("--by needs the name of the person signing")
    if not evidence:
        raise HardeningError("--evidence needs a link or a short text showing the item is done")
    if isinstance(expires, str):
        try:
            expires = date.fromisoformat(expires)
        except ValueError:
            raise HardeningError(
                f"--expires must be a date like 2025-12-31, not {expires!r}"
            ) from None
    private = _private_key(key)
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "item_id": item.id,
        "role": role,
        "by": by,
        "at": _utc(at).isoformat(),
        "evidence": evidence,
        "note": str(note or "").strip(),
        "expires": expires.isoformat() if expires else None,
        "waives": list(dict.fromkeys(waived)),
        "key": public_key_text(private),
    }
    record["signature"] = base64.b64encode(private.sign(canonical_bytes(record))).decode("ascii")
    return record


def waived_id(item_id: str) -> str:
    """A waived item id, normalised (``sec-04`` -> ``SEC-04``); unknown ids are refused."""
    try:
        return get_item(str(item_id).strip().upper()).id
    except KeyError:
        raise HardeningError(f"cannot waive {item_id!r}: no such checklist item") from None


def signature_problem(record: Any) -> str:
    """Why a record's own signature does not hold ("" when it verifies).

    Checks the shape first (a JSON object of schema 1 with a key and a signature),
    then the Ed25519 signature over ``canonical_bytes(record)``.
    """
    if not isinstance(record, Mapping):
        return "not a JSON object"
    if record.get("schema") != SCHEMA:
        return f"unsupported schema {record.get('schema')!r} (expected {SCHEMA})"
    signature = record.get("signature")
    if not signature:
        return "unsigned"
    try:
        public = parse_public_key(record.get("key"))  # type: ignore[arg-type]
    except ValueError as error:
        return f"no usable key: {error}"
    try:
        raw = base64.b64decode(str(signature), validate=True)
    except (binascii.Error, ValueError):
        return "signature is not base64"
    try:
        public.verify(raw, canonical_bytes(record))
    except InvalidSignature:
        return "signature does not verify"
    except (TypeError, ValueError) as error:  # e.g. a float NaN in a field
        return f"cannot encode record: {error}"
    return ""


def shape_problem(record: Mapping[str, Any]) -> str:
    """Why a (signed) record does not have the documented fields ("" when it does)."""
    for name in RECORD_FIELDS:
        if name not in record:
            return f"missing field {name!r}"
    for name in ("item_id", "role", "by", "at", "evidence", "note", "key"):
        if not isinstance(record[name], str):
            return f"field {name!r} must be a string"
    if not record["by"].strip() or not record["evidence"].strip():
        return "empty 'by' or 'evidence'"
    if not isinstance(record["waives"], list) or not all(
        isinstance(entry, str) for entry in record["waives"]
    ):
        return "field 'waives' must be a list of item ids"
    try:
        moment = datetime.fromisoformat(record["at"])
    except ValueError:
        return f"'at' is not an ISO 8601 timestamp: {record['at']!r}"
    if moment.tzinfo is None:
        return "'at' has no time zone"
    if record["expires"] is not None:
        try:
            date.fromisoformat(str(record["expires"]))
        except ValueError:
            return f"'expires' is not an ISO date: {record['expires']!r}"
    return ""


def record_at(record: Mapping[str, Any]) -> datetime:
    """The record's ``at`` as an aware UTC datetime (the record must be well-formed)."""
    return datetime.fromisoformat(record["at"]).astimezone(UTC)


def record_filename(record: Mapping[str, Any]) -> str:
    """``<ITEM-ID>--<role>--<YYYYMMDDTHHMMSSZ>.json``."""
    stamp = record_at(record).strftime("%Y%m%dT%H%M%SZ")
    return f"{record['item_id']}--{record['role']}--{stamp}.json"


# --- the ledger -------------------------------------------------------------------------------


def ledger_dir(
    data: Mapping[str, Any] | None = None, override: str | os.PathLike[str] | None = None
) -> Path:
    """Where records live: ``override`` (``--dir``), else ``$HARDENING_ATTESTATIONS``, else the
    inventory data key ``attestations_dir``, else ``attestations/`` in the working directory."""
    chosen = (
        override
        or os.environ.get(LEDGER_ENV)
        or (data or {}).get(LEDGER_DATA_KEY)
        or DEFAULT_LEDGER
    )
    return Path(chosen).expanduser()


def write_record(
    record: Mapping[str, Any], directory: str | os.PathLike[str] | None = None
) -> Path:
    """Write a record as a new file in the ledger (pretty JSON); never overwrites a file.

    Two records of the same item, role and second get ``-1``, ``-2`` ... suffixes.
    """
    target_dir = ledger_dir(override=directory)
    problem = signature_problem(record) or shape_problem(record)
    if problem:
        raise HardeningError(f"refusing to write an invalid record: {problem}")
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise HardeningError(
            f"cannot create ledger directory {target_dir}: {error.strerror}"
        ) from None
    text = json.dumps(dict(record), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    stem = record_filename(record)[: -len(".json")]
    for attempt in range(1000):
        path = target_dir / (f"{stem}.json" if attempt == 0 else f"{stem}-{attempt}.json")
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        except OSError as error:
            raise HardeningError(f"cannot write {path}: {error.strerror}") from None
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path
    raise HardeningError(f"too many records named {stem}*.json in {target_dir}")


@dataclass(frozen=True)
class LedgerEntry:
    """One record file as read, before the keyring is consulted.

    + path: the file
    + record: its parsed content (``None`` when unreadable); treat as read-only
    + problem: why it cannot count whatever the keyring says ("" when signed and well-formed)
    """

    path: Path
    record: dict[str, Any] | None
    problem: str


@lru_cache(maxsize=4096)
def _read_entry(path: str, inode: int, mtime_ns: int, size: int) -> LedgerEntry:
    """Parse and verify one file, cached per file version: audits judge 28 items per host."""
    try:
        record = json.loads(Path(path).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return LedgerEntry(Path(path), None, f"unreadable: {_one_line(str(error))}")
    if not isinstance(record, dict):
        return LedgerEntry(Path(path), None, "not a JSON object")
    problem = signature_problem(record) or shape_problem(record)
    return LedgerEntry(Path(path), record, problem)


def read_ledger(directory: str | os.PathLike[str]) -> list[LedgerEntry]:
    """Every record file (``*.json`` except ``keyring.json``) of a ledger, by file name.

    A missing directory is an empty ledger.
    """
    root = Path(directory)
    if not root.is_dir():
        return []
    entries = []
    for path in sorted(root.glob("*.json")):
        if path.name == KEYRING_FILE or not path.is_file():
            continue
        info = path.stat()
        entries.append(_read_entry(str(path), info.st_ino, info.st_mtime_ns, info.st_size))
    return entries


# --- keyring ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """A keyring entry: a person's name, public key and the roles they may sign as."""

    name: str
    key: str
    roles: frozenset[str]


@dataclass(frozen=True)
class Keyring:
    """Who may sign as which role. ``sources`` says where the entries came from."""

    signers: tuple[Signer, ...] = ()
    sources: tuple[str, ...] = ()

    def signers_of(self, key: str) -> list[Signer]:
        return [signer for signer in self.signers if signer.key == key]

    def authorize(self, key: str, role: str) -> tuple[str, str]:
        """``(signer name, problem)``: problem is "" when ``key`` may sign as ``role``."""
        if not self.signers:
            return "", "no keyring configured"
        signers = self.signers_of(key)
        if not signers:
            return "", "key not in keyring"
        for signer in signers:
            if role in signer.roles:
                return signer.name, ""
        allowed = ", ".join(sorted(set().union(*(signer.roles for signer in signers))))
        return signers[0].name, f"key {signers[0].name!r} may not sign as {role} (only {allowed})"

    @classmethod
    def from_mapping(cls, mapping: Any, source: str) -> Keyring:
        """Read ``{name: {"key": "ed25519:...", "roles": [...]}}``.

        Raises ``HardeningError`` naming the malformed entry.
        """
        if not isinstance(mapping, Mapping):
            raise HardeningError(f"keyring {source} must map names to {{key, roles}} entries")
        signers = []
        for name, entry in mapping.items():
            if not isinstance(entry, Mapping):
                raise HardeningError(f"keyring {source}: {name!r} must be {{key, roles}}")
            try:
                parse_public_key(entry.get("key"))  # type: ignore[arg-type]
            except ValueError as error:
                raise HardeningError(f"keyring {source}: {name!r}: {error}") from None
            roles = entry.get("roles")
            if not isinstance(roles, list | tuple) or not roles:
                raise HardeningError(f"keyring {source}: {name!r} needs a non-empty roles list")
            for role in roles:
                try:
                    check_role(role)
                except HardeningError as error:
                    raise HardeningError(f"keyring {source}: {name!r}: {error}") from None
            signers.append(Signer(str(name), entry["key"], frozenset(roles)))
        return cls(tuple(signers), (source,))

    def __add__(self, other: Keyring) -> Keyring:
        return Keyring(self.signers + other.signers, self.sources + other.sources)


def load_keyring(
    data: Mapping[str, Any] | None = None, directory: str | os.PathLike[str] | None = None
) -> Keyring:
    """The keyring: inventory data ``attestation_keyring`` plus ``<ledger>/keyring.json``.

    Both are optional and add up (a key listed twice may sign the roles of both
    entries). Raises ``HardeningError`` on a malformed keyring.
    """
    keyring = Keyring()
    mapping = (data or {}).get(KEYRING_DATA_KEY)
    if mapping:
        keyring += Keyring.from_mapping(mapping, f"inventory {KEYRING_DATA_KEY}")
    path = ledger_dir(data, directory) / KEYRING_FILE
    if path.is_file():
        try:
            loaded = json.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise HardeningError(f"keyring {path} is not readable JSON: {error}") from None
        keyring += Keyring.from_mapping(loaded, str(path))
    return keyring


# --- judging ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """A ledger entry judged against the keyring and the catalog.

    + item_id: the record's item (from the file name when the record is unreadable)
    + problem: why it does not count ("" when it does)
    + signer: the keyring name of its key, when known
    """

    entry: LedgerEntry
    item_id: str
    problem: str
    signer: str = ""

    @property
    def valid(self) -> bool:
        return not self.problem

    @property
    def record(self) -> dict[str, Any]:
        return self.entry.record or {}


def _rule_problem(record: Mapping[str, Any], path: Path, now: datetime) -> str:
    """Catalog and naming rules of a signed, well-formed record ("" when all hold)."""
    item_id, role = record["item_id"], record["role"]
    try:
        item = get_item(item_id)
    except KeyError:
        return f"unknown item {item_id!r}"
    if item.kind != "attest":
        return f"{item_id} is not an attest item"
    if not _ROLE.fullmatch(role) or len(role) > _MAX_ROLE:
        return f"invalid role {role!r}"
    if item_id in SIGN_OFF_ROLES and role != SIGN_OFF_ROLES[item_id]:
        return f"role {role} cannot sign {item_id} (needs {SIGN_OFF_ROLES[item_id]})"
    if record["waives"] and item_id not in SIGN_OFF_ROLES:
        return "waivers are only valid on sign-offs"
    named = _RECORD_NAME.fullmatch(path.name)
    if not named or (named["item"], named["role"]) != (item_id, role):
        return f"file name does not match the record ({item_id} / {role})"
    if record_at(record) > now + FUTURE_TOLERANCE:
        return f"signed in the future ({record['at']})"
    return ""


def judge(
    entries: Iterable[LedgerEntry], keyring: Keyring, now: datetime | None = None
) -> list[Verdict]:
    """Decide for each ledger entry whether it counts, and why not."""
    moment = _utc(now)
    verdicts = []
    for entry in entries:
        record = entry.record
        if record is None or entry.problem:
            named = _RECORD_NAME.fullmatch(entry.path.name)  # what the file claims to be
            item_id = named["item"] if named else (record or {}).get("item_id")
            if not isinstance(item_id, str):
                item_id = ""
            verdicts.append(Verdict(entry, item_id, entry.problem))
            continue
        problem = _rule_problem(record, entry.path, moment)
        signer, trust_problem = keyring.authorize(record["key"], record["role"])
        verdicts.append(Verdict(entry, record["item_id"], problem or trust_problem, signer))
    return verdicts


def _human(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def due_at(item: Item, record: Mapping[str, Any]) -> datetime | None:
    """When a valid record stops counting (cadence or ``expires``); ``None``: never."""
    limits = []
    days = cadence_days(item)
    if days is not None:
        limits.append(record_at(record) + timedelta(days=days))
    if record.get("expires"):
        end = date.fromisoformat(record["expires"]) + timedelta(days=1)
        limits.append(datetime.combine(end, time(), tzinfo=UTC))
    return min(limits) if limits else None


def describe(verdict: Verdict) -> str:
    """``by NAME (role) at DATE: EVIDENCE`` (plus the key's keyring name if it differs)."""
    record = verdict.record
    by = record["by"]
    if verdict.signer and verdict.signer.casefold() != by.casefold():
        by += f" [key {verdict.signer}]"
    text = f"by {by} ({record['role']}) at {_human(record_at(record))}: {record['evidence']}"
    if record.get("waives"):
        text += f"; waived critical failures: {', '.join(record['waives'])}"
    return text


def _rejections(verdicts: Sequence[Verdict]) -> str:
    rejected = [verdict for verdict in verdicts if not verdict.valid]
    if not rejected:
        return ""
    shown = "; ".join(
        f"{verdict.problem} ({verdict.entry.path.name})" for verdict in rejected[:_SHOWN_REJECTIONS]
    )
    more = len(rejected) - _SHOWN_REJECTIONS
    plural = "s" if len(rejected) != 1 else ""
    return f"{len(rejected)} record{plural} rejected: {shown}" + (
        f"; {more} more" if more > 0 else ""
    )


def command_hint(item: Item) -> str:
    """The command that records ``item``."""
    if item.id in SIGN_OFF_ROLES:
        return f"hardening sign-off --role {SIGN_OFF_ROLES[item.id]} --by NAME --report REPORT.json"
    return f"hardening attest {item.id} --role ROLE --by NAME --evidence URL"


def item_outcome(item: Item, verdicts: Iterable[Verdict], now: datetime | None = None) -> Outcome:
    """The item's result from the ledger: ``attested`` or ``pending`` with the reason.

    The latest valid record decides; rejected records of the item are listed.
    """
    moment = _utc(now)
    mine = [verdict for verdict in verdicts if verdict.item_id == item.id]
    valid = [verdict for verdict in mine if verdict.valid]
    rejected = _rejections(mine)
    run = f"run `{command_hint(item)}`"
    trust = "with a key the keyring lists for that role (docs/attestations.md)"
    if not valid:
        waiting = "awaiting sign-off" if item.id in SIGN_OFF_ROLES else "awaiting attestation"
        evidence = f"{waiting}: {rejected}; {run}" if rejected else f"{waiting}: {run}"
        return Outcome.pending(evidence, f"sign {trust}")
    latest = max(valid, key=lambda verdict: record_at(verdict.record))
    text = describe(latest)
    due = due_at(item, latest.record)
    if due is not None and due <= moment:
        evidence = f"overdue since {_human(due)}; last {text}"
        fix = f"attest again: {run}"
        return Outcome.pending(evidence + (f"; {rejected}" if rejected else ""), fix)
    if due is not None:
        text += f" (valid until {_human(due)})"
    return Outcome(Status.ATTESTED, text + (f"; also {rejected}" if rejected else ""))


def audit_item(
    item: Item,
    data: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    directory: str | os.PathLike[str] | None = None,
) -> Outcome:
    """Judge one attest item for a host's inventory ``data`` (what the checks call)."""
    root = ledger_dir(data, directory)
    try:
        keyring = load_keyring(data, root)
    except HardeningError as error:
        return Outcome.pending(
            f"no attestation can count: {error}", fix="fix the keyring (docs/attestations.md)"
        )
    return item_outcome(item, judge(read_ledger(root), keyring, now), now)


# --- attest and sign off ----------------------------------------------------------------------


def attest(
    item_id: str,
    role: str,
    by: str,
    evidence: str,
    key: PrivateKeySource | None = None,
    *,
    note: str = "",
    expires: date | str | None = None,
    directory: str | os.PathLike[str] | None = None,
    at: datetime | None = None,
) -> Path:
    """Sign and write an attestation of a (non sign-off) attest item; return the file.

    >>> attest("TEAM-06", "tech-lead", "Alice", "https://lms.example.net/course/42",
    ...        key="keys/alice.pem")  # doctest: +SKIP
    PosixPath('attestations/TEAM-06--tech-lead--20250101T120000Z.json')
    """
    item = attest_item(item_id.strip().upper())
    if item.id in SIGN_OFF_ROLES:
        raise HardeningError(
            f"{item.id} is a sign-off: use `{command_hint(item)}` (it checks the audit report)"
        )
    record = make_record(item.id, role, by, evidence, key, note=note, expires=expires, at=at)
    return write_record(record, directory)


def critical_failures(report: Any) -> dict[str, list[str]]:
    """Failing critical items of a report: ``{item id: [hosts]}`` in catalog order."""
    order = {item.id: index for index, item in enumerate(CATALOG)}
    failing: dict[str, list[str]] = {}
    for result in report.results:
        if result.status is Status.FAIL and get_item(result.item_id).severity == "critical":
            failing.setdefault(result.item_id, []).append(result.host)
    return dict(sorted(failing.items(), key=lambda pair: order[pair[0]]))


def load_report(report: Any) -> tuple[Any, str, str]:
    """``(Report, description, sha256)`` from a ``Report`` or a JSON report file path."""
    from hardening.reports import json_report
    from hardening.reports.model import Report

    if isinstance(report, Report):
        digest = hashlib.sha256(json_report.render(report).encode("utf-8")).hexdigest()
        return report, f"generated {report.generated_at}", digest
    path = Path(report)
    try:
        raw = path.read_bytes()
        loaded = json_report.from_dict(json.loads(raw.decode("utf-8")))
    except OSError as error:
        raise HardeningError(f"cannot read report {path}: {error.strerror}") from None
    except (ValueError, json_report.ReportFormatError) as error:
        raise HardeningError(
            f"{path} is not a hardening JSON report (`hardening audit --format json`): {error}"
        ) from None
    return loaded, f"{path} generated {loaded.generated_at}", hashlib.sha256(raw).hexdigest()


def sign_off(
    role: str,
    by: str,
    report: Any,
    key: PrivateKeySource | None = None,
    *,
    waive: Iterable[str] = (),
    note: str = "",
    directory: str | os.PathLike[str] | None = None,
    at: datetime | None = None,
) -> Path:
    """Sign off as ``role`` on an audit report; refuse while critical items fail.

    ``report`` is a ``Report`` or the path of a JSON report. Each failing critical item
    must be named in ``waive``; the waivers are part of the signed record.

    >>> sign_off("security-lead", "Sam", "reports-out/prod.json", waive=["SEC-03"],
    ...          key="keys/sam.pem")  # doctest: +SKIP
    PosixPath('attestations/SIGN-03--security-lead--20250101T120000Z.json')
    """
    items = {sign_role: item_id for item_id, sign_role in SIGN_OFF_ROLES.items()}
    if role not in items:
        raise HardeningError(
            f"unknown sign-off role {role!r} (one of {', '.join(SIGN_OFF_ROLES.values())})"
        )
    loaded, source, digest = load_report(report)
    if not loaded.results:
        raise HardeningError(f"report {source} has no results: audit the hosts first")
    unreachable = [host.name for host in loaded.unreachable_hosts]
    if unreachable:
        raise HardeningError(
            f"cannot sign off on report {source}: hosts were unreachable "
            f"({', '.join(unreachable)}); audit them all first"
        )
    failing = critical_failures(loaded)
    waived = list(dict.fromkeys(waived_id(entry) for entry in waive))
    needless = [item_id for item_id in waived if item_id not in failing]
    if needless:
        raise HardeningError(
            f"nothing to waive: {', '.join(needless)} is not a failing critical item in {source}"
        )
    unwaived = {item_id: hosts for item_id, hosts in failing.items() if item_id not in waived}
    if unwaived:
        listed = ", ".join(f"{item_id} ({', '.join(hosts)})" for item_id, hosts in unwaived.items())
        raise HardeningError(
            f"cannot sign off as {role}: critical items fail in report {source}: {listed}; fix "
            f"them and audit again, or waive them explicitly: --waive {' '.join(unwaived)}"
        )
    hosts = len({result.host for result in loaded.results})
    summary = (
        f"critical failures waived: {', '.join(waived)}" if waived else "no critical item failing"
    )
    evidence = (
        f"report {source} (sha256 {digest[:16]}): {hosts} host{'s' if hosts != 1 else ''}, "
        f"{len(loaded.results)} results, {summary}"
    )
    record = make_record(items[role], role, by, evidence, key, note=note, waives=waived, at=at)
    return write_record(record, directory)


# --- command line -----------------------------------------------------------------------------


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps one-line paragraphs to the terminal; keeps multi-line ones (examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(
            paragraph
            if "\n" in paragraph
            else textwrap.fill(paragraph, width, initial_indent=indent, subsequent_indent=indent)
            for paragraph in text.split("\n\n")
        )


_LEDGER_HELP = (
    f"ledger directory (default: ${LEDGER_ENV}, else ./{DEFAULT_LEDGER}); records are "
    "written there and its keyring.json is read"
)
_KEY_HELP = (
    f"Ed25519 private key file from `hardening keygen` (default: ${SIGNING_KEY_ENV}, else "
    f"{DEFAULT_KEY_PATH}); an encrypted key is opened with ${PASSPHRASE_ENV}"
)


def add_commands(subparsers: Any) -> dict[str, Handler]:
    """Add ``attest``, ``sign-off``, ``keygen`` and ``attestations`` to a CLI.

    ``subparsers`` is what ``ArgumentParser.add_subparsers()`` returned; the result
    maps each command name to its handler ``(Namespace) -> exit code``::

        commands = parser.add_subparsers(dest="command")
        HANDLERS.update(attest.add_commands(commands))
        ...
        return HANDLERS[args.command](args)
    """
    items = ", ".join(item.id for item in attest_items() if item.id not in SIGN_OFF_ROLES)

    parser = subparsers.add_parser(
        "attest",
        help="sign that a people-item of the checklist is done (who, role, evidence)",
        formatter_class=_HelpFormatter,
        description=(
            "Record, signed with your Ed25519 key, that a checklist item done by people is "
            "done: who, in which role, when, and the evidence (a link or a short text). "
            "The record is a new JSON file in the ledger directory; commit it. Audits count "
            "it when the keyring lets your key sign as ROLE. Items of Ongoing Operations "
            "expire after their cadence (daily 1, weekly 7, monthly 31, quarterly 92 days).\n\n"
            f"Items: {items}. Sign-offs (SIGN-01..04) use `hardening sign-off`."
        ),
        epilog=(
            "example:\n  hardening attest TEAM-01 --role tech-lead --by 'Alice Doe' \\\n"
            "      --evidence https://wiki.example.net/oncall --key ~/.config/hardening/alice.pem"
        ),
    )
    parser.add_argument("item", metavar="ITEM", help="checklist item id, e.g. TEAM-01")
    parser.add_argument("--role", required=True, help="role you sign as, e.g. tech-lead")
    parser.add_argument("--by", required=True, metavar="NAME", help="your name")
    parser.add_argument(
        "--evidence", required=True, metavar="URL", help="link (or short text) proving it is done"
    )
    parser.add_argument("--note", default="", help="optional remark stored in the record")
    parser.add_argument(
        "--expires", metavar="DATE", help="optional last day the record counts (YYYY-MM-DD)"
    )
    parser.add_argument("--key", metavar="KEYFILE", help=_KEY_HELP)
    parser.add_argument("--dir", metavar="DIR", help=_LEDGER_HELP)

    roles = tuple(SIGN_OFF_ROLES.values())
    parser = subparsers.add_parser(
        "sign-off",
        help="sign off a release on an audit report (refused while critical items fail)",
        formatter_class=_HelpFormatter,
        description=(
            "Sign the checklist's sign-off (SIGN-01 product-owner, SIGN-02 devops-lead, "
            "SIGN-03 security-lead, SIGN-04 tech-lead) on a JSON audit report. Refused while "
            "a critical item fails in the report or a host was unreachable, unless every "
            "failing critical item is named with --waive: the waivers become part of the "
            "signed record and show in every later audit."
        ),
        epilog=(
            "example:\n  hardening audit inventories/prod.py --format json -o reports-out/prod.json"
            "\n  hardening sign-off --role security-lead --by 'Sam Roe' "
            "--report reports-out/prod.json"
        ),
    )
    parser.add_argument("--role", required=True, choices=roles, help="the sign-off you give")
    parser.add_argument("--by", required=True, metavar="NAME", help="your name")
    parser.add_argument(
        "--report",
        required=True,
        metavar="REPORT.json",
        help="report written by `hardening audit --format json`",
    )
    parser.add_argument(
        "--waive",
        nargs="+",
        action="extend",
        default=[],
        metavar="ID",
        help="failing critical item(s) you accept the risk of (each must be named)",
    )
    parser.add_argument("--note", default="", help="optional remark stored in the record")
    parser.add_argument("--key", metavar="KEYFILE", help=_KEY_HELP)
    parser.add_argument("--dir", metavar="DIR", help=_LEDGER_HELP)

    parser = subparsers.add_parser(
        "keygen",
        help="create an Ed25519 signing key; print the public key for the keyring",
        formatter_class=_HelpFormatter,
        description=(
            "Create an Ed25519 private key file (PEM, PKCS8, mode 0600; encrypted with "
            f"${PASSPHRASE_ENV} when set). Never overwrites a file. Prints the public key "
            "line (ed25519:...) on stdout: add it to the keyring with your roles. The private "
            "key is never printed."
        ),
        epilog=(
            "example:\n  hardening keygen ~/.config/hardening/signing-key.pem\n"
            "  then in attestations/keyring.json (or the inventory's attestation_keyring):\n"
            '  {"alice": {"key": "ed25519:...", "roles": ["tech-lead"]}}'
        ),
    )
    parser.add_argument("path", metavar="PATH", help="private key file to create")
    parser.add_argument(
        "--show", action="store_true", help="print the public key of an existing key file instead"
    )

    parser = subparsers.add_parser(
        "attestations",
        help="list attestation records and whether each one verifies",
        formatter_class=_HelpFormatter,
        description=(
            "List every record of the ledger: item, role, signer, time and whether it "
            "counts (signature verifies, key in the keyring with that role) or why not. "
            "Reads the keyring from DIR/keyring.json only (an inventory keyring is applied "
            "by `hardening audit`). Exit 1 when a record is rejected."
        ),
    )
    parser.add_argument("--dir", metavar="DIR", help=_LEDGER_HELP)

    return {
        "attest": cmd_attest,
        "sign-off": cmd_sign_off,
        "keygen": cmd_keygen,
        "attestations": cmd_attestations,
    }


def _warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _report_trust(path: Path, directory: Path) -> None:
    """Tell the signer whether the ledger's keyring file will let the new record count."""
    record = json.loads(path.read_text("utf-8"))
    try:
        keyring = load_keyring(None, directory)
    except HardeningError as error:
        _warn(f"warning: {error}")
        return
    if not keyring.signers:
        _warn(
            f"note: no {directory / KEYRING_FILE}; audits count this record once the inventory's "
            f"{KEYRING_DATA_KEY} or that file lists {record['key']} with role {record['role']}"
        )
        return
    signer, problem = keyring.authorize(record["key"], record["role"])
    if problem:
        _warn(
            f"warning: {problem}: audits will not count this record until the keyring lists "
            f"{record['key']} with role {record['role']}"
        )
    else:
        print(f"keyring: {signer} may sign as {record['role']}: the record counts")


def cmd_attest(args: argparse.Namespace) -> int:
    """``hardening attest ITEM --role ROLE --by NAME --evidence URL``."""
    directory = ledger_dir(override=args.dir)
    path = attest(
        args.item,
        check_role(args.role),
        args.by,
        args.evidence,
        args.key,
        note=args.note,
        expires=args.expires,
        directory=directory,
    )
    print(f"wrote {path}")
    _report_trust(path, directory)
    return 0


def cmd_sign_off(args: argparse.Namespace) -> int:
    """``hardening sign-off --role ROLE --by NAME --report REPORT.json``."""
    directory = ledger_dir(override=args.dir)
    path = sign_off(
        args.role,
        args.by,
        args.report,
        args.key,
        waive=args.waive,
        note=args.note,
        directory=directory,
    )
    print(f"wrote {path}")
    waived = json.loads(path.read_text("utf-8"))["waives"]
    if waived:
        print(f"waived critical failures (signed, shown in every audit): {', '.join(waived)}")
    _report_trust(path, directory)
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    """``hardening keygen PATH``: print the public key line, never the private key."""
    if args.show:
        print(public_key_text(load_private_key(args.path)))
        return 0
    public = generate_key(args.path)
    print(public)
    _warn(
        f"private key written to {args.path} (mode 0600; keep it secret, never commit it). "
        f'Add to the keyring: "NAME": {{"key": "{public}", "roles": ["ROLE"]}}'
    )
    return 0


def cmd_attestations(args: argparse.Namespace) -> int:
    """``hardening attestations``: one line per record; exit 1 when one is rejected."""
    directory = ledger_dir(override=args.dir)
    keyring = load_keyring(None, directory)
    verdicts = judge(read_ledger(directory), keyring)
    for verdict in verdicts:
        record = verdict.record
        when = _human(record_at(record)) if "at" in record and not verdict.entry.problem else "-"
        state = "valid" if verdict.valid else f"REJECTED: {verdict.problem}"
        print(
            f"{verdict.item_id or '?':<9} {str(record.get('role', '?')):<14} "
            f"{_one_line(str(record.get('by', '?'))):<20} {when:<21} {state}  "
            f"[{verdict.entry.path.name}]"
        )
    rejected = sum(1 for verdict in verdicts if not verdict.valid)
    keys = (
        f"{len(keyring.signers)} key(s) in {directory / KEYRING_FILE}"
        if keyring.signers
        else f"no {directory / KEYRING_FILE}"
    )
    print(
        f"{len(verdicts)} record(s) in {directory}: {len(verdicts) - rejected} valid, "
        f"{rejected} rejected ({keys})"
    )
    return 1 if rejected else 0
