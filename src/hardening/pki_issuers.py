"""Certificate issuers besides the internal CA (SEC-03): an OpenBao/Vault PKI engine and
operator-provided certificate files.

``tls_issuer: vault`` issues each server certificate through ``POST /v1/<mount>/issue/<role>``
(hvac; the token is read from ``VAULT_TOKEN`` or a 0600 token file and travels only in the
``X-Vault-Token`` header); hosts trust ``<mount>/ca/pem`` plus ``<mount>/cert/ca_chain``.
``tls_issuer: files`` deploys the pairs named in ``tls_certificate_files`` after checking
each one on the control node. Backend down, token refused, role or file missing, a key
that does not match, a SAN that does not cover the host: one-line :class:`PkiError`.

**Example:**

.. code:: python

    issuer = vault_issuer({"mount": "pki", "role": "hardening"}, host.data.secrets_backend)
    pair = issuer.issue(["tb1", "10.77.0.2"], days=90)
    files = FilesIssuer({"postgresql": {"cert": "/srv/tls/db1.crt", "key": "/srv/tls/db1.key",
                                        "ca": "/srv/tls/ca.crt"}})
"""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding

from hardening.pki import (
    LOCAL_NAMES,
    Issuer,
    Pair,
    PkiError,
    PkiUnavailable,
    certificates,
    check_pair,
    days_left,
    describe,
    pem_blocks,
)

ISSUERS = ("internal", "vault", "files")
VAULT_KEYS = {"address", "mount", "role", "token_file", "verify"}
FILE_KEYS = {"cert", "key", "ca"}
# one issuer per configuration and process: every host and service asks for the same CA
_VAULT_CACHE: dict[str, VaultIssuer] = {}


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _bundle(pem_texts: list[str]) -> str:
    """The distinct certificates of ``pem_texts``, in order, as one PEM bundle."""
    blocks = [b for text in pem_texts for b in pem_blocks(text.strip().splitlines())]
    return "".join(dict.fromkeys(b for b in blocks if "CERTIFICATE-" in b))


class VaultIssuer(Issuer):
    """Server certificates from an OpenBao/Vault PKI engine.

    + address: ``https://bao.example.net:8200``
    + mount: the PKI engine's mount (``pki``)
    + role: the role certificates are issued under (``hardening``)
    + token_file: file holding the token (``VAULT_TOKEN`` wins when set)
    + verify: TLS verification of the address (``True``, ``False`` or a CA bundle path)
    """

    def __init__(
        self,
        address: str,
        mount: str = "pki",
        role: str = "hardening",
        token_file: str = "",
        verify: bool | str = True,
        timeout: float = 10,
    ) -> None:
        self.address, self.mount, self.role = address.rstrip("/"), mount.strip("/"), role
        self.token_file, self.verify, self.timeout = token_file, verify, timeout
        self._client: Any = None
        self._ca = ""

    def __str__(self) -> str:
        return f"OpenBao/Vault PKI {self.address}/v1/{self.mount}"

    def _call(self, path: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        """One hvac call on ``<mount>/path``; its errors as one-line :class:`PkiError`."""
        import requests
        from hvac import exceptions as hvac_errors

        try:
            return function(*args, **kwargs, mount_point=self.mount)
        except requests.exceptions.RequestException as error:
            raise PkiUnavailable(
                f"{self} is unreachable ({type(error).__name__}): start it or fix "
                "tls_vault_pki.address"
            ) from None
        except (hvac_errors.Forbidden, hvac_errors.Unauthorized):
            raise PkiError(
                f"{self} denied {self.mount}/{path}: check that the token "
                f"({self.token_file or 'VAULT_TOKEN'}) is valid, that its policy allows "
                f"{self.mount}/{path} and that the role {self.role!r} exists"
            ) from None
        except hvac_errors.InvalidPath:
            raise PkiError(
                f"{self} has no {self.mount}/{path}: enable the PKI engine at {self.mount!r} "
                f"with a CA and create the role {self.role!r}"
            ) from None
        except hvac_errors.VaultError as error:
            lines = [line.strip(" *\t,") for line in str(error.errors or error).splitlines()]
            said = [line for line in lines if line and not line.endswith("error occurred:")]
            raise PkiError(f"{self} refused {self.mount}/{path}: {'; '.join(said)}") from None

    @property
    def client(self) -> Any:
        if self._client is None:
            import hvac

            from hardening.secrets.base import SecretsBackendError
            from hardening.secrets.vault import read_token

            try:
                token = read_token(self.token_file)
            except SecretsBackendError as error:
                raise PkiError(f"{self}: {error}") from None
            self._client = hvac.Client(
                url=self.address, token=token, verify=self.verify, timeout=self.timeout
            )
        return self._client

    def ca_pem(self) -> str:
        if not self._ca:
            pki = self.client.secrets.pki
            issuing = self._call("ca/pem", pki.read_ca_certificate)
            chain = self._call("cert/ca_chain", pki.read_ca_certificate_chain)
            self._ca = _bundle([issuing or "", chain or ""])
            if not self._ca:
                raise PkiError(
                    f"{self} has no CA certificate: generate or import one "
                    f"({self.mount}/root/generate/internal)"
                )
        return self._ca

    def offline(self, trusted_ca_pem: str) -> VaultIssuer:
        """This issuer while it is unreachable: deployed certificates are judged against the
        CA bundle a host already trusts; anything due for renewal still fails to issue."""
        judged = copy.copy(self)
        judged._ca = _bundle([trusted_ca_pem])
        return judged

    def issue(self, names: list[str] | tuple[str, ...], days: int) -> Pair:
        if not names:
            raise PkiError("a server certificate needs at least one name")
        unique = list(dict.fromkeys([*names, *LOCAL_NAMES]))
        answer = self._call(
            f"issue/{self.role}",
            self.client.secrets.pki.generate_certificate,
            self.role,
            names[0],
            extra_params={
                "alt_names": ",".join(n for n in unique if not _is_ip(n)),
                "ip_sans": ",".join(n for n in unique if _is_ip(n)),
                "ttl": f"{int(days) * 24}h",
                "format": "pem",
                "private_key_format": "pkcs8",
            },
        )
        data = answer.get("data") or {}
        if not data.get("certificate") or not data.get("private_key"):
            raise PkiError(f"{self} answered {self.mount}/issue/{self.role} without a pair")
        # the served chain: leaf, then the intermediates (roots stay with the clients)
        chain = [c for c in certificates(_bundle(data.get("ca_chain") or [])) if not _root(c)]
        cert_pem = _bundle([data["certificate"], *(_pem(c) for c in chain)])
        return Pair(cert_pem, data["private_key"].strip() + "\n")


def _root(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(Encoding.PEM).decode()


def vault_issuer(config: dict | None, secrets_backend: dict | None = None) -> VaultIssuer:
    """The :class:`VaultIssuer` of a ``tls_vault_pki`` mapping; address, token file and
    ``verify`` default to those of a ``vault`` ``secrets_backend``."""
    problems = config_problems("tls_vault_pki", config or {})
    if problems:
        raise PkiError("; ".join(problems))
    backend = secrets_backend if (secrets_backend or {}).get("type") == "vault" else {}
    merged = {
        "mount": "pki",
        "role": "hardening",
        **{k: v for k, v in backend.items() if k in ("address", "token_file", "verify")},
        **(config or {}),
    }
    if not merged.get("address"):
        raise PkiError(
            "tls_issuer is vault, but neither tls_vault_pki.address nor a vault secrets_backend "
            "says where OpenBao/Vault is: set tls_vault_pki.address"
        )
    key = repr(sorted(merged.items()))
    if key not in _VAULT_CACHE:
        _VAULT_CACHE[key] = VaultIssuer(**merged)
    return _VAULT_CACHE[key]


def _read(path: str, what: str) -> str:
    try:
        return Path(path).expanduser().read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not text"
        raise PkiError(f"{path} is unreadable ({reason}): fix {what}") from None


class FilesIssuer(Issuer):
    """Operator-provided pairs, one ``{cert, key, ca}`` entry per certificate file name
    (``postgresql`` for ``/etc/ssl/hardening/postgresql.crt``); hosts trust every ``ca``."""

    renews = False

    def __init__(self, files: dict[str, dict[str, str]]) -> None:
        problems = config_problems("tls_certificate_files", files)
        if problems:
            raise PkiError("; ".join(problems))
        if not files:
            raise PkiError("tls_issuer is files, but tls_certificate_files names no files")
        self.files = files

    def __str__(self) -> str:
        return "the operator's certificate files (tls_certificate_files)"

    def ca_pem(self) -> str:
        texts = [
            _read(entry["ca"], f"tls_certificate_files.{service}.ca")
            for service, entry in sorted(self.files.items())
        ]
        bundle = _bundle(texts)
        if not bundle:
            raise PkiError("tls_certificate_files: the ca files hold no certificate")
        return bundle

    def for_certificate(self, cert_path: str) -> Issuer:
        service = Path(cert_path).stem
        if service not in self.files:
            raise PkiError(
                f"tls_certificate_files has no {service!r} entry for {cert_path}: add "
                f"{{'{service}': {{'cert': ..., 'key': ..., 'ca': ...}}}}"
            )
        return OperatorFiles(service, self.files[service])

    def issue(self, names: list[str] | tuple[str, ...], days: int) -> Pair:
        raise PkiError("operator files are chosen per certificate: use for_certificate()")


class OperatorFiles(Issuer):
    """One operator-provided pair: deployed as it is once it passed :meth:`issue`'s checks."""

    renews = False

    def __init__(self, service: str, entry: dict[str, str]) -> None:
        self.service, self.entry = service, entry

    def __str__(self) -> str:
        return f"the operator's file {self.entry['cert']}"

    def _text(self, part: str) -> str:
        return _read(self.entry[part], f"tls_certificate_files.{self.service}.{part}")

    def ca_pem(self) -> str:
        return _bundle([self._text("ca")])

    def foreign(self, current: dict) -> str:
        wanted = describe(self._text("cert"))
        same = all(current.get(k) == wanted[k] for k in ("public_key", "not_after", "issuer"))
        return "" if same else f"differs from {self}"

    def issue(self, names: list[str] | tuple[str, ...], days: int) -> Pair:
        cert_pem, key_pem = self._text("cert"), self._text("key")
        fix = f"(tls_certificate_files.{self.service})"
        try:
            check_pair(cert_pem, key_pem, names)
        except PkiError as error:
            raise PkiError(
                f"{self.entry['cert']} / {self.entry['key']}: {error}: put a matching pair for "
                f"{', '.join(names)} there {fix}"
            ) from None
        chain = certificates(cert_pem)
        if not _signed_by(chain, certificates(self.ca_pem())):
            raise PkiError(
                f"{self.entry['cert']} is not signed by {self.entry['ca']}: put the issuing CA "
                f"there or the intermediates after the certificate {fix}"
            )
        left = days_left(chain[0].not_valid_after_utc.isoformat())
        if left <= 0:
            raise PkiError(f"{self.entry['cert']} expired {-left:.0f} days ago: renew it {fix}")
        return Pair(cert_pem, key_pem)


def _signed_by(chain: list[x509.Certificate], roots: list[x509.Certificate]) -> bool:
    """Whether ``chain[0]`` leads, through the rest of ``chain``, to one of ``roots``."""
    current, pool = chain[0], [*chain[1:], *roots]
    for _ in range(len(pool)):
        parent = next((c for c in pool if _issued(current, c)), None)
        if parent is None:
            return False
        if parent in roots:
            return True
        current = parent
    return False


def _issued(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def config_problems(key: str, value: Any) -> list[str]:
    """What is wrong with ``tls_issuer``, ``tls_vault_pki`` or ``tls_certificate_files``."""
    if key == "tls_issuer":
        return [] if value in ISSUERS else [f"tls_issuer must be one of {ISSUERS}, got {value!r}"]
    if not isinstance(value, dict):
        return [f"{key} must be a mapping, got {type(value).__name__}"]
    if key == "tls_vault_pki":
        problems = [f"tls_vault_pki: unknown key {k!r}" for k in sorted(set(value) - VAULT_KEYS)]
        if "token" in value:
            problems.append("tls_vault_pki must not contain a token (VAULT_TOKEN or token_file)")
        address = value.get("address")
        if address is not None and not str(address).startswith(("https://", "http://")):
            problems.append("tls_vault_pki.address must be an http(s):// URL")
        return problems
    problems = []
    for service, entry in sorted(value.items()):
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in FILE_KEYS):
            problems.append(f"{key}.{service} must be {{'cert': path, 'key': path, 'ca': path}}")
        elif set(entry) - FILE_KEYS:
            problems.append(f"{key}.{service}: unknown key {sorted(set(entry) - FILE_KEYS)[0]!r}")
    return problems
