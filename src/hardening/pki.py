"""Internal CA on the control node: server certificates for PostgreSQL and Redis (SEC-03).

The CA key and certificate are created once under ``tls_pki_dir`` (else
``$HARDENING_PKI_DIR``, else ``~/.config/hardening/pki/``; key 0600). Server certificates
carry the host's name and address (plus ``localhost``/``127.0.0.1`` for local clients) and
are renewed when fewer than ``tls_renew_days`` remain. Everything is parsed and built with
the ``cryptography`` package; nothing here shells out to openssl.

The internal CA is one :class:`Issuer` (the default); ``tls_issuer`` selects an
OpenBao/Vault PKI engine or operator-provided files instead (:mod:`hardening.pki_issuers`).
:func:`renewal_reason` and :func:`issue_checked` judge and check pairs of any issuer.

**Example:**

.. code:: python

    ca = load_or_create_ca(pki_dir(host.data))
    pair = issue(ca, ["tb1", "10.77.0.2"], days=90)
    check_pair(pair.cert_pem, pair.key_pem, ["tb1", "10.77.0.2"])
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hardening.errors import HardeningError

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
#: Names every server certificate also covers, for clients on the host itself.
LOCAL_NAMES = ("localhost", "127.0.0.1")


class PkiError(HardeningError):
    """A certificate problem: missing CA, SAN not covering the host, key/cert mismatch."""


class PkiUnavailable(PkiError):
    """The issuer cannot be reached: nothing can be issued, deployed pairs can be judged."""


@dataclass(frozen=True)
class CA:
    """The internal CA: its private key and certificate."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass(frozen=True)
class Pair:
    """A freshly issued server certificate and its private key (PEM text)."""

    cert_pem: str
    key_pem: str

    def __repr__(self) -> str:  # never show the key
        return "Pair(<certificate>, <private key>)"


def pki_dir(data: Any = None) -> Path:
    """The CA directory: ``tls_pki_dir`` from host data, ``$HARDENING_PKI_DIR``, or the default."""
    declared = (data.get("tls_pki_dir") if data is not None else None) or os.environ.get(
        "HARDENING_PKI_DIR"
    )
    return Path(declared or Path.home() / ".config" / "hardening" / "pki").expanduser()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hardening"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_or_create_ca(directory: Path, create: bool = True, days: int = 3650) -> CA:
    """Load the CA from ``directory``; create it there (key 0600) when neither file exists.

    A directory with only one of the two files, an unreadable file or ``create=False`` with
    no CA raise a one-line :class:`PkiError`.
    """
    key_path, cert_path = directory / CA_KEY, directory / CA_CERT
    if not key_path.exists() and not cert_path.exists():
        if not create:
            raise PkiError(f"no CA in {directory}: create one or set tls_pki_dir")
        return _create_ca(directory, days)
    missing = [str(p) for p in (key_path, cert_path) if not p.exists()]
    if missing:
        raise PkiError(f"CA incomplete: {', '.join(missing)} missing (restore it from backup)")
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (ValueError, TypeError) as error:
        raise PkiError(f"CA in {directory} is unreadable: {error}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not _same_key(cert, key):
        raise PkiError(f"CA key {key_path} does not match {cert_path}")
    return CA(key, cert)


def _create_ca(directory: Path, days: int) -> CA:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("hardening internal CA")
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path = directory / CA_KEY
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(_pem_key(key))
    (directory / CA_CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return CA(key, cert)


def _san_entry(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def issue(ca: CA, names: list[str] | tuple[str, ...], days: int = 90) -> Pair:
    """A server certificate for ``names`` (host name first) signed by ``ca``, with a new key."""
    if not names:
        raise PkiError("a server certificate needs at least one name")
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    unique = list(dict.fromkeys([*names, *LOCAL_NAMES]))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([_san_entry(n) for n in unique]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    return Pair(cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key).decode())


def _same_key(cert: x509.Certificate, key: Any) -> bool:
    return _public_der(cert.public_key()) == _public_der(key.public_key())


def _public_der(public_key: Any) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_cert(pem: str) -> x509.Certificate:
    """Parse PEM text; :class:`PkiError` when it is not a certificate."""
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError as error:
        raise PkiError(f"not a PEM certificate: {error}") from None


def san_names(cert: x509.Certificate) -> list[str]:
    """DNS names and IP addresses of the certificate's subjectAltName."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [*san.get_values_for_type(x509.DNSName)] + [
        str(a) for a in san.get_values_for_type(x509.IPAddress)
    ]


def uncovered(cert: x509.Certificate, names: list[str] | tuple[str, ...]) -> list[str]:
    """The ``names`` the certificate's SAN does not cover (IP addresses compared as such)."""
    covered = {n.lower() for n in san_names(cert)}
    return [n for n in names if n.lower() not in covered]


def check_pair(cert_pem: str, key_pem: str, names: list[str] | tuple[str, ...]) -> None:
    """Raise a one-line :class:`PkiError` unless the key matches and the SAN covers ``names``."""
    cert = load_cert(cert_pem)
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise PkiError("the private key is not a readable unencrypted PEM key") from None
    if not _same_key(cert, key):
        raise PkiError(f"the private key does not match the certificate for {names[0]}")
    missing = uncovered(cert, names)
    if missing:
        raise PkiError(f"the certificate's SAN does not cover {', '.join(missing)}")


def describe(pem: str) -> dict:
    """Public facts of a PEM certificate: subject, issuer, SAN, expiry (ISO, UTC)."""
    cert = load_cert(pem)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "san": san_names(cert),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "public_key": _public_der(cert.public_key()).hex(),
        "authority_key_id": _authority_key_id(cert),
    }


def _authority_key_id(cert: x509.Certificate) -> str:
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return ""
    return (aki.key_identifier or b"").hex()


def pem_blocks(lines: list[str]) -> list[str]:
    """The ``-----BEGIN ...-----`` .. ``-----END ...-----`` blocks found in ``lines``."""
    blocks, current = [], None
    for line in lines:
        if line.startswith("-----BEGIN "):
            current = [line]
        elif current is not None:
            current.append(line)
            if line.startswith("-----END "):
                blocks.append("\n".join(current) + "\n")
                current = None
    return blocks


def first_certificate(lines: list[str]) -> dict:
    """``describe()`` of the first certificate in ``lines`` (a leaf before its chain), else
    ``{"error": ...}``."""
    blocks = [b for b in pem_blocks(lines) if b.startswith("-----BEGIN CERTIFICATE-----")]
    try:
        return describe(blocks[0]) if blocks else {"error": "no certificate"}
    except PkiError as error:
        return {"error": str(error)}


def public_key_hex(pem: str) -> str:
    """DER hex of a PEM public key (as ``describe()["public_key"]``), ``""`` if unreadable."""
    try:
        return _public_der(serialization.load_pem_public_key(pem.encode())).hex()
    except (ValueError, TypeError):
        return ""


def days_left(not_after: str, now: dt.datetime | None = None) -> float:
    """Days until an ISO ``not_after`` (negative once expired)."""
    remaining = dt.datetime.fromisoformat(not_after) - (now or _now())
    return remaining.total_seconds() / 86400


def key_id(ca_cert: x509.Certificate) -> str:
    """Hex subject key identifier of a CA certificate (computed from its key when absent):
    what ``describe()["authority_key_id"]`` of a certificate it signed says."""
    try:
        return ca_cert.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value.digest.hex()
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(ca_cert.public_key()).digest.hex()


def certificates(pem: str) -> list[x509.Certificate]:
    """Every certificate in PEM text (a bundle), in order."""
    return [load_cert(block) for block in pem_blocks(pem.splitlines()) if "CERTIFICATE-" in block]


class Issuer:
    """Where server certificates come from (``tls_issuer``): :class:`InternalIssuer` (the CA
    of this module), ``vault`` (an OpenBao/Vault PKI engine) or ``files`` (operator-provided
    files), the last two in :mod:`hardening.pki_issuers`.

    An issuer gives the CA bundle hosts trust, says whether a deployed certificate is its own
    and issues a new pair; every problem is a one-line :class:`PkiError`.

    **Example:**

    .. code:: python

        issuer = issuer_from_data(host.data).for_certificate("/etc/ssl/hardening/redis.crt")
        reason = renewal_reason(current, issuer, ["tb1", "10.77.0.2"], renew_days=30)
        pair = issue_checked(issuer, ["tb1", "10.77.0.2"], days=90, renew_days=30)
    """

    #: False when the issuer cannot renew (operator files): only an expired one is replaced.
    renews = True

    def ca_pem(self) -> str:
        """The CA certificate(s) hosts trust, PEM."""
        raise NotImplementedError

    def for_certificate(self, cert_path: str) -> Issuer:
        """The issuer of the certificate file ``cert_path`` (one issuer serves all by default)."""
        return self

    def foreign(self, current: dict) -> str:
        """Why the deployed certificate (``describe()`` shape) is not this issuer's, or ``""``."""
        ours = {key_id(ca) for ca in certificates(self.ca_pem())}
        if current.get("authority_key_id") not in ours:
            return f"issued by {current['issuer']}, not by {self}"
        return ""

    def issue(self, names: list[str] | tuple[str, ...], days: int) -> Pair:
        """A new certificate (host name first) and its key."""
        raise NotImplementedError

    def offline(self, trusted_ca_pem: str) -> Issuer | None:
        """This issuer, unreachable, judging against the CA bundle a host trusts (``None``:
        it cannot be judged without its backend)."""
        return None


class InternalIssuer(Issuer):
    """The internal CA in ``directory`` (created on first use when ``create``), or ``ca``."""

    def __init__(self, directory: Path | None = None, create: bool = True, ca: CA | None = None):
        self.directory, self.create, self._ca = directory, create, ca

    def __str__(self) -> str:
        return f"this hardening CA ({self.directory})" if self.directory else "this hardening CA"

    @property
    def ca(self) -> CA:
        if self._ca is None:
            self._ca = load_or_create_ca(self.directory or pki_dir(), create=self.create)
        return self._ca

    def ca_pem(self) -> str:
        return self.ca.cert_pem

    def issue(self, names: list[str] | tuple[str, ...], days: int) -> Pair:
        return issue(self.ca, names, days)


def as_issuer(source: Issuer | CA | str | Path) -> Issuer:
    """An :class:`Issuer` from an issuer, a :class:`CA` or an existing CA directory."""
    if isinstance(source, Issuer):
        return source
    if isinstance(source, CA):
        return InternalIssuer(ca=source)
    return InternalIssuer(Path(source).expanduser(), create=False)


def issuer_from_data(data: Any) -> Issuer:
    """The issuer host data selects with ``tls_issuer`` (``internal`` by default)."""
    from hardening.settings import setting

    kind = setting(data, "tls_issuer")
    if kind == "internal":
        return InternalIssuer(pki_dir(data))
    from hardening import pki_issuers

    if kind == "vault":
        return pki_issuers.vault_issuer(
            setting(data, "tls_vault_pki"), setting(data, "secrets_backend")
        )
    if kind == "files":
        return pki_issuers.FilesIssuer(setting(data, "tls_certificate_files"))
    raise PkiError(f"tls_issuer must be internal, vault or files, got {kind!r}")


def renewal_reason(
    current: dict | None,
    issuer: Issuer | CA,
    names: list[str] | tuple[str, ...],
    renew_days: int,
    now: dt.datetime | None = None,
) -> str:
    """Why the deployed certificate (``describe()`` shape plus ``key_public_key``) must be
    replaced, or ``""`` when it is still good: missing, not ``issuer``'s, SAN not covering
    ``names``, key mismatch, fewer than ``renew_days`` left (expired, for an issuer that
    cannot renew)."""
    if not current:
        return "no certificate deployed"
    if current.get("error"):
        return f"deployed certificate unreadable: {current['error']}"
    foreign = as_issuer(issuer).foreign(current)
    if foreign:
        return foreign
    missing = [n for n in names if n.lower() not in {s.lower() for s in current["san"]}]
    if missing:
        return f"SAN does not cover {', '.join(missing)}"
    if current.get("key_public_key") != current["public_key"]:
        return "the deployed key does not match the certificate"
    left = days_left(current["not_after"], now)
    if left < (renew_days if as_issuer(issuer).renews else 0):
        return f"{left:.1f} days left (renew below {renew_days})"
    return ""


def issue_checked(
    issuer: Issuer, names: list[str] | tuple[str, ...], days: int, renew_days: int
) -> Pair:
    """A new pair from ``issuer``, refused (one-line :class:`PkiError`) unless the key matches,
    the SAN covers ``names`` and the hosts' CA bundle signed it; also when the issuer cut the
    requested ``days`` (e.g. a role's max_ttl) to no more than ``renew_days``, which every
    run would renew again."""
    pair = issuer.issue(names, days)
    check_pair(pair.cert_pem, pair.key_pem, names)
    new = describe(pair.cert_pem)
    foreign = issuer.foreign(new)
    if foreign:
        raise PkiError(f"the new certificate is {foreign}: the issuer and its CA disagree")
    left = days_left(new["not_after"])
    if issuer.renews and left <= renew_days and left < days - 1:
        raise PkiError(
            f"{issuer} issued a certificate valid for {left:.1f} days, not more than "
            f"tls_renew_days={renew_days}: raise its maximum lifetime or lower tls_renew_days"
        )
    return pair
