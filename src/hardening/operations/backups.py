"""Backup operations: pgBackRest to an encrypted S3 repository, WAL archiving, timers.

Secrets never appear on a command line or in pyinfra's output: the repository passphrase
comes from the secrets backend (``<primary>/pgbackrest-cipher``, shared by the cluster's
hosts) or, without a backend, is generated on the primary; it and the S3 key are uploaded
(not ``--diff``-logged) into 0600 files through a private directory.
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, OperationError, StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.facts.files import Directory, File, Sha1File
from pyinfra.operations import files, systemd

from hardening.facts.pgbackrest import (
    PgArchiver,
    PgbackrestConfig,
    PgbackrestInfo,
)
from hardening.operations._render import render, sha1
from hardening.secrets import SecretsBackendError, backend_from_config, generate_password

CONF_DIR = "/etc/pgbackrest"
CA_FILE = f"{CONF_DIR}/s3-ca.pem"
S3_SECRETS = f"{CONF_DIR}/conf.d/hardening-s3.conf"
CIPHER_FILE = f"{CONF_DIR}/conf.d/hardening-cipher.conf"
PRIVATE_DIR = f"{CONF_DIR}/.hardening"
ARCHIVE_CONF = "/etc/postgresql/15/main/conf.d/50-hardening-backup.conf"
UNIT_DIR = "/etc/systemd/system"
#: Records each backup run for the node exporter's textfile collector (``backup.prom``).
METRICS_WRITER = "/usr/local/sbin/hardening-backup-metrics"
#: The node exporter's textfile collector (Debian's default ``--collector.textfile.directory``).
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
_PSQL = "runuser -u postgres -- psql -XAtq"


def put_config(path: str, content: str, mode: str = "0644", group: str = "root"):
    """``files.put`` of rendered text, owned by root:``group``; True when it changes."""
    changed = host.get_fact(Sha1File, path=path) != sha1(content)
    yield from files.put._inner(
        src=StringIO(content), dest=path, user="root", group=group, mode=mode
    )
    return changed


def put_secret_file(path: str, content: str, owner: str = "postgres"):
    """Upload ``content`` to a 0600 file without logging it; noop when it is unchanged.

    The upload lands in a 0700 directory first (never in /tmp), then ``install`` moves it.
    """
    if host.get_fact(Sha1File, path=path) == sha1(content):
        host.noop(f"{path} is up to date")
        return
    staged = f"{PRIVATE_DIR}/upload"
    yield StringCommand("install -d -m 0700 -o root -g root", QuoteString(PRIVATE_DIR))
    yield FileUploadCommand(StringIO(content), staged, remote_temp_filename=f"{staged}.tmp")
    yield StringCommand(
        "install -m 0600 -o",
        QuoteString(owner),
        "-g",
        QuoteString(owner),
        QuoteString(staged),
        QuoteString(path),
        "&& rm -f",
        QuoteString(staged),
    )


@operation()
def repository(
    endpoint: str,
    key: str,
    key_secret: str,
    bucket: str = "pgbackrest",
    region: str = "us-east-1",
    port: int = 443,
    repo_path: str = "/pgbackrest",
    ca_pem: str = "",
    retention_full: int = 2,
    start_fast: bool = False,
    stanza: str = "main",
    pg_path: str = "/var/lib/postgresql/15/main",
    pg_port: int = 5432,
    primary: str = "",
    backend_config: dict | None = None,
    standby: bool = False,
):
    """
    Configure pgBackRest for an encrypted (aes-256-cbc) S3 repository.

    + endpoint / port / bucket / region / repo_path: where the repository lives (HTTPS)
    + key / key_secret: S3 credentials, written to a 0600 file (never on a command line)
    + ca_pem: PEM text of the CA that signed the endpoint's certificate (empty: system CAs)
    + retention_full: full backups kept; with weekly fulls (N-1)*7 days stay restorable
    + start_fast: force a checkpoint when a backup starts
    + primary: inventory name of the cluster's primary (recorded in pgbackrest.conf)
    + backend_config: the ``secrets_backend`` setting; the passphrase is then the backend's
      ``<primary>/pgbackrest-cipher`` (created on the control node the first time)
    + standby: this host is a streaming standby of ``primary`` (a backend is required)

    Without a backend the passphrase is generated once on the host (``/dev/urandom``, never
    changed, never read back); losing it makes the repository unreadable, so back up the
    0600 file ``conf.d/hardening-cipher.conf`` separately. A primary whose existing
    passphrase differs from the backend's is refused (the repository would be unreadable).

    **Example:**

    .. code:: python

        backups.repository(name="pgBackRest repository", endpoint="s3.example.net",
                           key=key, key_secret=secret, bucket="db-backups")
    """
    if int(retention_full) < 1:
        raise ValueError("retention_full must be at least 1")
    if not endpoint or not key or not key_secret:
        raise ValueError("the S3 endpoint, key and key secret are required")
    yield from files.directory._inner(path=f"{CONF_DIR}/conf.d", user="root", mode="0755")
    if ca_pem:
        yield from put_config(CA_FILE, ca_pem)
    content = render(
        "pgbackrest.conf.j2",
        endpoint=endpoint,
        port=int(port),
        bucket=bucket,
        region=region,
        repo_path=repo_path,
        ca_file=CA_FILE if ca_pem else "",
        retention_full=int(retention_full),
        start_fast=bool(start_fast),
        stanza=stanza,
        pg_path=pg_path,
        pg_port=int(pg_port),
        primary=primary or host.name,
        standby=bool(standby),
    )
    yield from put_config(f"{CONF_DIR}/pgbackrest.conf", content, mode="0640", group="postgres")
    yield from put_secret_file(
        S3_SECRETS, f"[global]\nrepo1-s3-key={key}\nrepo1-s3-key-secret={key_secret}\n"
    )
    if backend_config:
        yield from _cipher_from_backend(backend_config, primary or host.name, standby)
        return
    if standby:
        raise OperationError("a standby shares the primary's passphrase: set secrets_backend")
    options = host.get_fact(PgbackrestConfig)["options"].get("global", {})
    if options.get("repo1-cipher-pass") == "set":
        host.noop("the repository passphrase exists (never regenerated)")
    else:
        target = QuoteString(CIPHER_FILE)
        yield StringCommand(
            "test -s",
            target,
            "|| (umask 077 && { echo '[global]'; printf 'repo1-cipher-pass=';",
            "head -c 48 /dev/urandom | base64 -w0; echo; } >",
            QuoteString(f"{CIPHER_FILE}.new"),
            "&& chown postgres:postgres",
            QuoteString(f"{CIPHER_FILE}.new"),
            "&& mv",
            QuoteString(f"{CIPHER_FILE}.new"),
            target,
            ")",
        )


def cipher_name(primary: str) -> str:
    """Backend name of a cluster's repository passphrase."""
    return f"{primary}/pgbackrest-cipher"


def _cipher_from_backend(config: dict, primary: str, standby: bool):
    """Write the backend's passphrase of ``primary``'s cluster to ``CIPHER_FILE`` (0600)."""
    name = cipher_name(primary)
    try:
        chosen = backend_from_config(config)
        record = chosen.ensure(name, lambda: {"passphrase": generate_password(64)})
    except SecretsBackendError as error:
        raise OperationError(f"repository passphrase {name}: {error}") from None
    content = f"[global]\nrepo1-cipher-pass={record.current['passphrase']}\n"
    current = host.get_fact(Sha1File, path=CIPHER_FILE)
    if current and current != sha1(content) and not standby:
        raise OperationError(
            f"{CIPHER_FILE} holds a passphrase other than the backend's {name}: the repository"
            " is encrypted with it; store that passphrase in the backend under that name"
            " (or move the repository aside), then rerun"
        )
    yield from put_secret_file(CIPHER_FILE, content)


@operation()
def archiving(stanza: str = "main", archive_timeout: int = 60, path: str = ARCHIVE_CONF):
    """
    WAL archiving to pgBackRest (``archive_mode``, ``archive_command``, ``archive_timeout``).

    Reloads PostgreSQL when the file changes; restarts it only when the server reports a
    parameter that needs it (``pending_restart``, i.e. ``archive_mode`` the first time).

    **Example:**

    .. code:: python

        backups.archiving(name="WAL archiving", archive_timeout=60)
    """
    archiver = host.get_fact(PgArchiver)
    if not archiver["running"]:
        raise ValueError("PostgreSQL is not running here: cannot configure WAL archiving")
    content = render(
        "postgresql-backup.conf.j2", stanza=stanza, archive_timeout=int(archive_timeout)
    )
    changed = yield from put_config(path, content, group="postgres")
    if changed:
        yield StringCommand(
            f"{_PSQL} -c 'SELECT pg_reload_conf()' >/dev/null && sleep 1 &&",
            f"if [ \"$({_PSQL} -c 'SELECT count(*) FROM pg_settings WHERE pending_restart')\"",
            "!= 0 ]; then systemctl restart postgresql@15-main; fi",
        )
    elif archiver["pending_restart"]:
        yield StringCommand("systemctl restart postgresql@15-main")
    else:
        host.noop("WAL archiving is configured and active")


@operation()
def stanza(stanza: str = "main", repository: str = "the repository"):
    """
    Create the pgBackRest stanza when the repository does not have it.

    Run it before ``archiving``: when the repository is unreachable or the stanza cannot be
    created, the deploy stops here with one line naming ``repository`` and the fix, before
    ``archive_command`` is switched on (WAL would otherwise pile up in ``pg_wal``). A stanza
    that belongs to another cluster (system-id mismatch) is refused; nothing is overwritten.

    + repository: how error messages name the repository (e.g. ``https://s3.example:443/db``)

    **Example:**

    .. code:: python

        backups.stanza(name="pgBackRest stanza", repository="https://s3.example.net:443/db")
    """
    info = host.get_fact(PgbackrestInfo, stanza=stanza)
    local, owner = info["local_system_id"], info["system_id"]
    if info["status_code"] in (0, 2) and local and owner and local != owner:
        raise OperationError(
            f"stanza {stanza} in {repository} belongs to another cluster (system-id {owner},"
            f" this cluster {local}): refusing to touch it; set backup_repo_path to this"
            " cluster's own path (or stanza-upgrade if this cluster replaced that one)"
        )
    if info["status_code"] in (0, 2):  # ok, or "no valid backups" (stanza exists)
        host.noop(f"stanza {stanza} exists ({info['status']})")
        return
    fix = (
        f"check that this host reaches {repository} (network, firewall, certificate) and the"
        " backup_s3_* settings, then rerun deploys/backups.py; WAL archiving was not enabled"
    )
    if repository.startswith("https://"):
        # seconds, where pgBackRest retries a dead endpoint for minutes
        yield StringCommand(
            f"out=$(curl -sS -o /dev/null --max-time 15 $(test -f {CA_FILE} &&",
            f"echo --cacert {CA_FILE})",
            QuoteString(repository + "/"),
            '2>&1) || { echo "pgBackRest stanza',
            f'{stanza}: {repository} is not usable: $out."',
            QuoteString(fix),
            ">&2; exit 1; }",
        )
    yield StringCommand(
        "cd /tmp && { out=$(runuser -u postgres -- pgbackrest --log-level-console=error",
        f"--stanza={stanza} stanza-create 2>&1) ||",
        f'{{ echo "pgBackRest stanza {stanza}: {repository} is not usable:',
        '$(printf "%s" "$out" | grep -m1 ERROR || printf "%s" "$out" | tail -n1)."',
        QuoteString(fix),
        ">&2; exit 1; }; }",
    )


@operation()
def backup(stanza: str = "main", backup_type: str = "full", only_if_none: bool = True):
    """
    Take a pgBackRest backup (``full``, ``diff`` or ``incr``).

    + only_if_none: take it only when the stanza has no backup yet (first deploy);
      ``False`` always takes one (pre-flight backup before a deployment)

    **Example:**

    .. code:: python

        backups.backup(name="Pre-flight full backup", only_if_none=False)
    """
    if backup_type not in ("full", "diff", "incr"):
        raise ValueError(f"backup_type must be full, diff or incr, not {backup_type!r}")
    if only_if_none and host.get_fact(PgbackrestInfo, stanza=stanza)["backups"]:
        host.noop(f"stanza {stanza} already has a backup")
        return
    yield from install_metrics_writer()
    yield StringCommand(
        "cd /tmp && start=$(date +%s) && { runuser -u postgres -- pgbackrest"
        f" --log-level-console=error --stanza={stanza} --type={backup_type} backup; rc=$?; }};",
        f'EXIT_STATUS=$rc {METRICS_WRITER} {stanza} "$(($(date +%s) - start))"; exit $rc',
    )


def metrics_writer_text() -> str:
    """The backup-result writer as installed (``templates/hardening-backup-metrics.sh``)."""
    return render("hardening-backup-metrics.sh")


def install_metrics_writer():
    """Install :data:`METRICS_WRITER` (root, 0755); True when it changed."""
    return (yield from put_config(METRICS_WRITER, metrics_writer_text(), mode="0755"))


def seed_metrics(stanza: str):
    """Without ``backup.prom`` (backups taken before the writer existed), record the
    newest existing backup as the last good run, so the metrics exist before the next one."""
    if not host.get_fact(Directory, path=TEXTFILE_DIR):
        return
    if host.get_fact(File, path=f"{TEXTFILE_DIR}/backup.prom"):
        return
    backups = host.get_fact(PgbackrestInfo, stanza=stanza)["backups"]
    if backups:
        stop = max(int(b["stop"]) for b in backups)
        yield f"EXIT_STATUS=0 BACKUP_FINISHED_AT={stop} {METRICS_WRITER} {stanza}"


def install_units(units: dict[str, str], timers: tuple[str, ...]):
    """Write systemd unit files, reload systemd when one changed, enable and start timers."""
    changed = False
    for name, content in units.items():
        changed = (yield from put_config(f"{UNIT_DIR}/{name}", content)) or changed
    for timer in timers:
        yield from systemd.service._inner(
            f"{timer}.timer", running=True, enabled=True, daemon_reload=changed
        )
        changed = False


def timer_unit(description: str, calendar: str, unit: str) -> str:
    return render(
        "hardening.timer.j2",
        description=description,
        on_calendar=calendar,
        interval="",
        randomized_delay=300,
        unit=unit,
    )


@operation()
def schedule(
    stanza: str = "main",
    full_calendar: str = "Sun *-*-* 01:00:00",
    diff_calendar: str = "Mon..Sat *-*-* 01:00:00",
):
    """
    systemd timers for a weekly full and daily differential backup; every run records its
    result for the node exporter's textfile collector (``backup_last_exit_code``,
    ``backup_last_success_timestamp_seconds``: MON-INFO-02).

    **Example:**

    .. code:: python

        backups.schedule(name="Backup timers", full_calendar="Sun *-*-* 01:00:00")
    """
    yield from install_metrics_writer()
    yield from seed_metrics(stanza)
    units = {
        "hardening-backup@.service": render(
            "hardening-backup@.service.j2", stanza=stanza, metrics_writer=METRICS_WRITER
        ),
        "hardening-backup-full.timer": timer_unit(
            "Full pgBackRest backup (hardening)", full_calendar, "hardening-backup@full.service"
        ),
        "hardening-backup-diff.timer": timer_unit(
            "Differential pgBackRest backup (hardening)",
            diff_calendar,
            "hardening-backup@diff.service",
        ),
    }
    yield from install_units(units, ("hardening-backup-full", "hardening-backup-diff"))
