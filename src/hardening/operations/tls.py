"""TLS operations: the CA on the host, server certificates for PostgreSQL and Redis (issued
on the control node by the configured :class:`hardening.pki.Issuer`: the internal CA, an
OpenBao/Vault PKI engine or operator files), and the TLS settings of both servers.

Private keys travel only as file uploads into a 0700 staging directory (never in a command
line, never printed, not even by ``--diff``) and are swapped in only after the host confirmed
that key and certificate belong together; a bad pair leaves the previous one in place and
reloads nothing.
"""

from __future__ import annotations

import os
from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.files import File, Sha1File
from pyinfra.operations import files

from hardening.facts.certificates import CertificateFile
from hardening.facts.redis import ADMIN_CLI, admin_auth_shell
from hardening.operations import postgres as postgres_ops
from hardening.operations._render import sha1
from hardening.operations.redis import SECRETS_CONF, _include
from hardening.pki import Issuer, Pair, PkiError, as_issuer, issue_checked, renewal_reason

#: Where the hardening CA certificate is trusted system-wide.
CA_PATH = "/usr/local/share/ca-certificates/hardening-ca.crt"
#: Directory of the server certificates and keys.
TLS_DIR = "/etc/ssl/hardening"
STAGING = f"{TLS_DIR}/.hardening-staging"
#: Redis include file with the TLS settings.
REDIS_TLS_CONF = "/etc/redis/hardening-tls.conf"
#: What a refused certificate leaves behind (end of every issuer error).
KEPT = "the previous certificate stays, nothing was reloaded"
#: Reload PostgreSQL's configuration (and certificates) without dropping connections.
PG_RELOAD = "runuser -u postgres -- psql -XAtqc 'SELECT pg_reload_conf()' >/dev/null"


def redis_reload(
    cert_path: str, key_path: str, tls_port: int, service: str = "redis-server"
) -> str:
    """Shell: make Redis load a renewed pair with ``CONFIG SET`` (no dropped connections),
    over its TLS port, else its plaintext port; restart it when neither answers ``OK`` (e.g.
    an admin password only the secrets backend knows). The ``admin`` ACL user's
    host-generated password is passed in ``REDISCLI_AUTH`` (environment, never argv)."""
    config_set = f"CONFIG SET tls-cert-file {cert_path} tls-key-file {key_path}"
    return (
        admin_auth_shell(SECRETS_CONF) + " ok=;"
        f' for target in "--tls --cacert {CA_PATH} -h localhost -p {int(tls_port)}"'
        ' "-h 127.0.0.1 -p 6379"; do'
        f' if [ "$(timeout 5 {ADMIN_CLI} $target {config_set} 2>/dev/null)" = OK ];'
        " then ok=1; break; fi; done;"
        f' [ -n "$ok" ] || systemctl restart {service}'
    )


@operation()
def ca_certificate(cert_pem: str, path: str = CA_PATH):
    """
    Trust the CA of the configured issuer on the host (``update-ca-certificates`` after a
    change).

    + cert_pem: the CA certificate(s) (public; a bundle for an OpenBao/Vault chain)
    + path: where it goes

    **Example:**

    .. code:: python

        tls.ca_certificate(cert_pem=ca.cert_pem)
    """
    if host.get_fact(Sha1File, path=path) == sha1(cert_pem):
        host.noop(f"{path} is the hardening CA")
        return
    yield from files.put._inner(src=StringIO(cert_pem), dest=path, mode="0644")
    yield StringCommand("update-ca-certificates >/dev/null")


#: Pairs issued during this run, by (host, certificate path, names, issuer): decided once,
#: at prepare time when the deploy calls :func:`due_pair`, then deployed by the operation.
_ISSUED: dict[tuple[str, str, tuple[str, ...], str], Pair] = {}


def due_pair(
    issuer: Issuer | str,
    names: list[str] | tuple[str, ...],
    cert_path: str,
    key_path: str,
    days: int = 90,
    renew_days: int = 30,
) -> Pair | None:
    """The checked new pair for ``cert_path`` when the deployed one must be replaced (see
    :func:`server_certificate`), else ``None``; a one-line :class:`PkiError` when the issuer
    fails. Call it from a deploy so that a problem stops the run before anything changes
    (no host touched, nothing reloaded); the operation then deploys the same pair.

    **Example:**

    .. code:: python

        try:
            tls.due_pair(issuer, ["db1", "10.0.0.11"], PG_CERT, PG_KEY)
        except PkiError as error:
            raise DeployError(str(error)) from None
    """
    current = host.get_fact(CertificateFile, path=cert_path, key_path=key_path)
    source = as_issuer(issuer).for_certificate(cert_path)
    reason = renewal_reason(current if current["exists"] else None, source, names, renew_days)
    if not reason:
        return None
    issued = (host.name, cert_path, tuple(names), str(source))
    if issued not in _ISSUED:
        _ISSUED[issued] = issue_checked(source, names, days, renew_days)
    return _ISSUED[issued]


@operation()
def server_certificate(
    issuer: Issuer | str,
    names: list[str] | tuple[str, ...],
    cert_path: str,
    key_path: str,
    owner: str,
    days: int = 90,
    renew_days: int = 30,
    reload: str = "",
):
    """
    A server certificate for ``names`` from ``issuer``, replaced when it is missing, not
    that issuer's, does not cover ``names``, does not match its key or has fewer than
    ``renew_days`` left (operator files: once they differ from the deployed pair).

    The new pair is checked on the control node (key matches, SAN covers ``names``, signed
    by the CA hosts trust, not cut to ``renew_days`` by the issuer), uploaded into a 0700
    staging directory, owned by ``owner`` (key 0600), checked again on the host, moved into
    place atomically, then ``reload`` runs. Any problem (issuer down, token refused, bad
    pair) stops here with one line: the previous pair stays and nothing is reloaded. Deploys
    call :func:`due_pair` first, so that such a problem stops the run at prepare time,
    before any host changes.

    + issuer: a :class:`hardening.pki.Issuer` (``deploys.tls.trusted_ca()`` returns the
      configured one) or the directory of an internal CA on the control node
    + names: host name and addresses the certificate must cover (first: the CN)
    + cert_path, key_path: where certificate and key go
    + owner: the service user that reads the key (``postgres``, ``redis``)
    + days: lifetime of a new certificate
    + renew_days: renew when fewer days than this remain
    + reload: shell command that makes the service pick the new pair up

    **Example:**

    .. code:: python

        tls.server_certificate(
            issuer=issuer_from_data(host.data), names=["db1", "10.0.0.11"],
            cert_path="/etc/ssl/hardening/postgresql.crt",
            key_path="/etc/ssl/hardening/postgresql.key", owner="postgres",
        )
    """
    try:
        pair = due_pair(issuer, names, cert_path, key_path, days, renew_days)
    except PkiError as error:
        raise OperationError(f"{cert_path}: {error}; {KEPT}") from None
    if pair is None:
        host.noop(f"{cert_path} is valid for {', '.join(names)}")
        return
    staged_key = f"{STAGING}/{os.path.basename(key_path)}"
    staged_cert = f"{STAGING}/{os.path.basename(cert_path)}"
    yield StringCommand(f"install -d -m 0755 {TLS_DIR} && install -d -m 0700 {STAGING}")
    yield FileUploadCommand(StringIO(pair.key_pem), staged_key)
    yield FileUploadCommand(StringIO(pair.cert_pem), staged_cert)
    yield StringCommand(
        "chown",
        QuoteString(f"{owner}:{owner}"),
        QuoteString(staged_key),
        QuoteString(staged_cert),
        "&& chmod 0600",
        QuoteString(staged_key),
        "&& chmod 0644",
        QuoteString(staged_cert),
    )
    yield StringCommand(
        f'[ "$(openssl pkey -in {staged_key} -pubout)" = '
        f'"$(openssl x509 -in {staged_cert} -noout -pubkey)" ] || {{ rm -f {staged_key}'
        f" {staged_cert}; echo 'new key does not match its certificate: kept the old pair'"
        " >&2; exit 1; }"
    )
    swap = f"mv -f {staged_key} {key_path} && mv -f {staged_cert} {cert_path}"
    yield StringCommand(f"{swap} && {reload}" if reload else swap)


@operation()
def postgres_tls(content: str, path: str = postgres_ops.TLS_CONF):
    """
    PostgreSQL TLS settings (``ssl``, certificate, key, CA, ``ssl_min_protocol_version``):
    validated with ``postgres -C``, reloaded, then confirmed by ``SHOW ssl`` and an empty
    ``pg_file_settings`` error list.

    + content: rendered ``postgresql-tls.conf.j2``
    + path: the conf.d file

    **Example:**

    .. code:: python

        tls.postgres_tls(content=render("postgresql-tls.conf.j2", ...))
    """
    commands = list(postgres_ops.server_settings._inner(content=content, path=path))
    if not commands:
        return
    yield from commands
    ask = "runuser -u postgres -- psql -XAtqc"
    yield StringCommand(
        f"[ \"$({ask} 'SHOW ssl')\" = on ] && [ \"$({ask} 'SELECT count(*) FROM pg_file_settings"
        " WHERE error IS NOT NULL')\" = 0 ] || { echo 'PostgreSQL did not take the TLS settings:"
        " see SELECT * FROM pg_file_settings WHERE error IS NOT NULL' >&2; exit 1; }"
    )


@operation()
def redis_tls(
    content: str,
    config: str = "/etc/redis/redis.conf",
    path: str = REDIS_TLS_CONF,
    service: str = "redis-server",
):
    """
    Redis TLS include file (``tls-port``, certificate, key, CA, ``tls-auth-clients``,
    optionally ``port 0``), included from ``redis.conf``. Redis restarts only when the
    file or the include changed; if it does not come back, the previous file is restored.

    + content: rendered ``redis-tls.conf.j2``
    + config: the main redis.conf
    + path: the include file
    + service: systemd unit

    **Example:**

    .. code:: python

        tls.redis_tls(content=render("redis-tls.conf.j2", ...))
    """
    if not host.get_fact(File, path=config):
        host.noop(f"Redis is not installed here ({config} does not exist)")
        return
    changed = host.get_fact(Sha1File, path=path) != sha1(content)
    if changed:
        yield from files.put._inner(
            src=StringIO(content), dest=f"{path}.staged", user="redis", group="redis", mode="0640"
        )
        yield StringCommand(
            f"touch {path} && cp -a {path} {path}.previous && mv {path}.staged {path}"
        )
    else:
        host.noop(f"{path} is up to date")
    changed = (yield from _include(config, path)) or changed
    if not changed:
        return
    yield StringCommand(
        f"systemctl restart {service}; sleep 1; systemctl is-active -q {service} || "
        f"{{ mv {path}.previous {path}; systemctl restart {service};"
        " echo 'Redis did not start with the TLS settings: restored the previous file' >&2;"
        " exit 1; }"
    )
