"""TLS with the configured CA (SEC-03): CA trusted on every host, PostgreSQL (ssl=on,
TLSv1.2+, hostssl only) and Redis (tls-port) with certificates for the host's name and
address, renewed when fewer than ``tls_renew_days`` remain.

``tls_issuer`` picks the issuer: ``internal`` (default, :mod:`hardening.pki`), ``vault``
(OpenBao/Vault PKI, ``tls_vault_pki``) or ``files`` (``tls_certificate_files``); see
:mod:`hardening.pki_issuers`.

Order in ``harden()``: after ``postgres_hardening`` (it writes pg_hba.conf, which this
deploy turns to ``hostssl``) and before ``firewall``.
"""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.files import File, FileContents

from hardening.deploys._common import DB_GROUPS, in_groups
from hardening.deploys.postgres import _address, least_privilege_hba
from hardening.operations import tls as tls_ops
from hardening.operations._render import render
from hardening.pki import Issuer, PkiError, PkiUnavailable, issuer_from_data
from hardening.settings import setting

PG_CERT, PG_KEY = f"{tls_ops.TLS_DIR}/postgresql.crt", f"{tls_ops.TLS_DIR}/postgresql.key"
#: Values of Redis ``tls-auth-clients``.
AUTH_CLIENTS = ("no", "optional", "yes")
REDIS_CERT, REDIS_KEY = f"{tls_ops.TLS_DIR}/redis.crt", f"{tls_ops.TLS_DIR}/redis.key"


def server_names() -> list[str]:
    """The names a server certificate of this host covers: inventory name, then address."""
    return list(dict.fromkeys([host.name, _address(host)]))


def certificate(directory: Issuer | str, cert: str, key: str, owner: str, reload: str) -> None:
    """This host's certificate at ``cert``/``key`` for ``owner`` from ``directory``: what
    :func:`trusted_ca` returned (the configured issuer) or an internal CA's directory. A new
    pair is issued and checked now: an issuer problem stops the run (one line) before
    anything changes on any host."""
    lifetime = {
        "days": int(setting(host.data, "tls_cert_days")),
        "renew_days": int(setting(host.data, "tls_renew_days")),
    }
    try:
        tls_ops.due_pair(directory, server_names(), cert, key, **lifetime)
    except PkiError as error:
        raise DeployError(f"{host.name} {cert}: {error}; {tls_ops.KEPT}") from None
    tls_ops.server_certificate(
        name=f"TLS certificate {cert}",
        issuer=directory,
        names=server_names(),
        cert_path=cert,
        key_path=key,
        owner=owner,
        reload=reload,
        **lifetime,
    )


#: Former name, still imported by deploys/logs.py.
_certificate = certificate


def trusted_ca() -> Issuer:
    """Trust the CA of the configured issuer (``tls_issuer``; the internal CA is created on
    first use) on this host and return the issuer, which :func:`certificate` takes."""
    try:
        issuer = issuer_from_data(host.data)
        try:
            cert_pem = issuer.ca_pem()
        except PkiUnavailable as error:
            issuer, cert_pem = _offline(issuer, error)
    except PkiError as error:
        raise DeployError(f"{host.name}: {error}; no certificate was changed") from None
    tls_ops.ca_certificate(name="Trust the hardening CA", cert_pem=cert_pem)
    return issuer


def _offline(issuer: Issuer, error: PkiUnavailable) -> tuple[Issuer, str]:
    """An unreachable OpenBao/Vault issuer judged against the CA this host already trusts
    (certificates that are still good stay, a due renewal stops the run); ``error`` when the
    host trusts none yet."""
    trusted = "\n".join(host.get_fact(FileContents, path=tls_ops.CA_PATH) or []) + "\n"
    offline = issuer.offline(trusted) if "BEGIN CERTIFICATE" in trusted else None
    if offline is None:
        raise error
    logger.warning(f"{host.name}: {error}; judging certificates against {tls_ops.CA_PATH}")
    return offline, offline.ca_pem()


@deploy("TLS with the configured CA")
def tls() -> None:
    postgres = setting(host.data, "postgres_tls") and in_groups(*DB_GROUPS)
    redis = setting(host.data, "redis_tls") and host.get_fact(File, path="/etc/redis/redis.conf")
    if not (postgres or redis):
        return
    directory = trusted_ca()
    if postgres:
        certificate(directory, PG_CERT, PG_KEY, "postgres", tls_ops.PG_RELOAD)
        tls_ops.postgres_tls(
            name="PostgreSQL TLS settings (conf.d/45-hardening-tls.conf)",
            content=render(
                "postgresql-tls.conf.j2",
                cert_file=PG_CERT,
                key_file=PG_KEY,
                ca_file=tls_ops.CA_PATH,
            ),
        )
        least_privilege_hba(name="pg_hba.conf: hostssl for remote clients", tls=True)
    if redis:
        auth_clients = setting(host.data, "redis_tls_auth_clients")
        if auth_clients not in AUTH_CLIENTS:
            raise DeployError(
                f"redis_tls_auth_clients must be one of {AUTH_CLIENTS}, got {auth_clients!r}"
            )
        tls_port = int(setting(host.data, "redis_tls_port"))
        reload = tls_ops.redis_reload(REDIS_CERT, REDIS_KEY, tls_port)
        certificate(directory, REDIS_CERT, REDIS_KEY, "redis", reload)
        tls_ops.redis_tls(
            name="Redis TLS port",
            content=render(
                "redis-tls.conf.j2",
                tls_port=tls_port,
                cert_file=REDIS_CERT,
                key_file=REDIS_KEY,
                ca_file=tls_ops.CA_PATH,
                auth_clients=auth_clients,
                tls_only=setting(host.data, "redis_tls_only"),
            ),
        )
