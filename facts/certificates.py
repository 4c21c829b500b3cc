"""Certificate facts: what a deployed certificate file and a live TLS endpoint present.

Installed as ``hardening.facts.certificates``. Only public material crosses the wire (the
certificate, and the *public* half of a key file); it is parsed on the control node with
``cryptography`` (:func:`hardening.pki.describe`).
"""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from hardening.pki import first_certificate, pem_blocks, public_key_hex


class CertificateFile(FactBase):
    """
    A certificate file on the host and whether ``key_path`` holds its private key.

    .. code:: python

        {"exists": True, "subject": "CN=tb1,O=hardening", "issuer": "CN=hardening internal CA,...",
         "san": ["tb1", "localhost", "10.77.0.2", "127.0.0.1"],
         "not_after": "2027-02-25T17:00:00+00:00", "public_key": "3059...",
         "authority_key_id": "ab12...", "key_public_key": "3059..."}
    """

    @staticmethod
    def default() -> dict:
        return {"exists": False}

    def command(self, path: str, key_path: str = "") -> str:
        cert, key = shlex.quote(path), shlex.quote(key_path)
        return (
            f"if [ -f {cert} ]; then echo '#cert'; cat {cert}; else echo '#absent'; fi; "
            f"if [ -n {key} ] && [ -f {key} ]; then echo '#key'; "
            f"openssl pkey -in {key} -pubout 2>/dev/null || echo '#key-unreadable'; fi"
        )

    def process(self, output: list[str]) -> dict:
        if "#cert" not in output:
            return self.default()
        start = output.index("#cert")
        end = output.index("#key") if "#key" in output else len(output)
        fact = {"exists": True, **first_certificate(output[start:end])}
        keys = pem_blocks(output[end:])
        fact["key_public_key"] = public_key_hex(keys[0]) if keys else ""
        return fact


class CertificateEndpoint(FactBase):
    """
    The leaf certificate a local TLS endpoint presents (``openssl s_client -showcerts``);
    ``starttls="postgres"`` for PostgreSQL.

    .. code:: python

        {"tls": True, "chain": 1, "subject": "CN=tb1,O=hardening", "san": [...],
         "issuer": "...", "not_after": "2027-02-25T17:00:00+00:00", ...}
    """

    @staticmethod
    def default() -> dict:
        return {"tls": False}

    def command(self, port: int, starttls: str = "") -> str:
        option = f"-starttls {shlex.quote(starttls)}" if starttls else ""
        return (
            f"timeout 5 openssl s_client -connect 127.0.0.1:{int(port)} {option} -showcerts "
            "</dev/null 2>/dev/null | sed -n '/-----BEGIN CERT/,/-----END CERT/p'; echo '#done'"
        )

    def process(self, output: list[str]) -> dict:
        chain = len(pem_blocks(output))
        return (
            {"tls": True, "chain": chain, **first_certificate(output)} if chain else self.default()
        )
