#!/usr/bin/python3
"""Restore drill (installed by hardening): restore the latest pgBackRest backup into a
scratch data directory, start a temporary PostgreSQL on it, verify it, remove it, and
record the measured RTO and RPO in a result file.

Usage: hardening-restore-drill [--target 'YYYY-MM-DD HH:MM:SS+00'] [--force]

--force lets the drill empty a scratch directory that is not empty (never the live one).
Settings: /etc/hardening/restore-drill.json. Result: /var/lib/hardening/drill/last.json.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

CONFIG = "/etc/hardening/restore-drill.json"


class DrillError(Exception):
    pass


def run(argv, **kwargs):
    done = subprocess.run(argv, capture_output=True, text=True, cwd="/tmp", **kwargs)
    if done.returncode != 0:
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        raise DrillError(
            f"{os.path.basename(argv[4] if argv[0] == 'runuser' else argv[0])}: "
            + (lines[-1] if lines else f"exit {done.returncode}")
        )
    return done.stdout


def as_postgres(*argv):
    return run(["runuser", "-u", "postgres", "--", *argv])


def sql(cfg, query, database="postgres"):
    return as_postgres(
        "psql",
        "-XAtq",
        "-h",
        cfg["socket_dir"],
        "-p",
        str(cfg["port"]),
        "-d",
        database,
        "-c",
        query,
    ).strip()


def prepare_scratch(cfg, force):
    scratch = cfg["scratch"].rstrip("/")
    live = os.path.realpath(cfg["live_data"])
    if os.path.realpath(scratch) == live or not scratch.startswith("/var/lib/hardening/"):
        raise DrillError(f"refusing scratch directory {scratch}: not under /var/lib/hardening/")
    if os.path.isdir(scratch) and os.listdir(scratch):
        if not force:
            raise DrillError(
                f"restore target {scratch} is not empty; nothing was changed "
                "(remove it or run with --force)"
            )
        shutil.rmtree(scratch)
    for path in (scratch, cfg["socket_dir"]):
        os.makedirs(path, mode=0o700, exist_ok=True)
        shutil.chown(path, "postgres", "postgres")
    return scratch


def restore(cfg, scratch, target):
    argv = [
        "pgbackrest",
        f"--stanza={cfg['stanza']}",
        f"--pg1-path={scratch}",
        "--archive-mode=off",
        "--log-level-console=warn",
    ]
    if target != "latest":
        argv += ["--type=time", f"--target={target}", "--target-action=promote"]
    as_postgres(*argv, "restore")
    with open(os.path.join(scratch, "postgresql.conf"), "w") as conf:
        conf.write(
            f"port = {cfg['port']}\nlisten_addresses = ''\n"
            f"unix_socket_directories = '{cfg['socket_dir']}'\n"
            f"archive_mode = off\nhba_file = '{scratch}/pg_hba.conf'\n"
            f"ident_file = '{scratch}/pg_ident.conf'\n"
            "hot_standby = off\n"
        )
    with open(os.path.join(scratch, "pg_hba.conf"), "w") as hba:
        hba.write("local all postgres peer\n")
    open(os.path.join(scratch, "pg_ident.conf"), "w").close()
    for name in ("postgresql.conf", "pg_hba.conf", "pg_ident.conf"):
        shutil.chown(os.path.join(scratch, name), "postgres", "postgres")


def wait_promoted(cfg, timeout=3600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if sql(cfg, "SELECT pg_is_in_recovery()") == "f":
                return
        except DrillError:
            pass
        time.sleep(0.5)
    raise DrillError("restored server did not finish recovery in time")


def verify(cfg):
    counts = {}
    for entry in cfg["tables"]:
        database, _, table = entry.rpartition("/")
        quoted = ".".join('"' + part.replace('"', '""') + '"' for part in table.split("."))
        counts[entry] = int(sql(cfg, f"SELECT count(*) FROM {quoted}", database or "postgres"))
    amcheck = "not available"
    if os.path.exists(os.path.join(cfg["pgbin"], "pg_amcheck")):
        sql(cfg, "CREATE EXTENSION IF NOT EXISTS amcheck")
        as_postgres(
            os.path.join(cfg["pgbin"], "pg_amcheck"),
            "-h",
            cfg["socket_dir"],
            "-p",
            str(cfg["port"]),
            "-U",
            "postgres",
            "-d",
            "postgres",
        )
        amcheck = "ok (postgres database)"
    replay = sql(cfg, "SELECT coalesce(extract(epoch FROM pg_last_xact_replay_timestamp()), 0)")
    return counts, amcheck, float(replay or 0)


def newest_backup(cfg):
    info = json.loads(
        as_postgres("pgbackrest", "--output=json", f"--stanza={cfg['stanza']}", "info")
    )
    backups = info[0].get("backup", []) if info else []
    if not backups:
        raise DrillError(f"no backup of stanza {cfg['stanza']} in the repository")
    return backups[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="latest")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    with open(CONFIG) as handle:
        cfg = json.load(handle)
    previous = {}
    if os.path.exists(cfg["result"]):
        with open(cfg["result"]) as handle:
            previous = json.load(handle)
    started = time.time()
    result = {
        "ok": False,
        "started": started,
        "target": args.target,
        "last_success": previous.get("last_success"),
    }
    scratch, running = None, False
    try:
        backup = newest_backup(cfg)
        result["backup_label"] = backup["label"]
        scratch = prepare_scratch(cfg, args.force)
        restore(cfg, scratch, args.target)
        log = os.path.join(scratch, "drill.log")
        running = True
        try:
            as_postgres(
                os.path.join(cfg["pgbin"], "pg_ctl"),
                "-D",
                scratch,
                "-l",
                log,
                "-w",
                "-t",
                "3600",
                "start",
            )
        except DrillError:
            with open(log) as handle:
                fatal = [line for line in handle if "FATAL" in line or "PANIC" in line]
            raise DrillError(
                "restored server did not start: " + (fatal[-1].strip() if fatal else "see its log")
            ) from None
        wait_promoted(cfg)
        counts, amcheck, replayed = verify(cfg)
        finished = time.time()
        data_time = replayed or backup["timestamp"]["stop"]
        result.update(
            ok=True,
            finished=finished,
            last_success=finished,
            tables=counts,
            amcheck=amcheck,
            rto_seconds=round(finished - started, 1),
            rpo_seconds=round(max(0.0, started - data_time), 1),
            rpo_source="last replayed transaction" if replayed else "backup end",
        )
    except (DrillError, OSError, ValueError, KeyError) as error:
        result["error"] = str(error)
    finally:
        if running:
            subprocess.run(
                [
                    "runuser",
                    "-u",
                    "postgres",
                    "--",
                    os.path.join(cfg["pgbin"], "pg_ctl"),
                    "-D",
                    scratch,
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
                capture_output=True,
                cwd="/tmp",
            )
        if scratch:  # set only once the scratch directory was found empty or emptied
            shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(os.path.dirname(cfg["result"]), exist_ok=True)
    tmp = cfg["result"] + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(result, handle, indent=1)
    os.replace(tmp, cfg["result"])
    if not result["ok"]:
        print(f"restore drill failed: {result['error']}", file=sys.stderr)
        return 1
    print(
        f"restore drill ok: backup {result['backup_label']}, RTO {result['rto_seconds']} s, "
        f"RPO {result['rpo_seconds']} s ({result['rpo_source']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
