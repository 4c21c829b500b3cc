"""Benchmark: streaming-replication lag under a bounded pgbench load, and pgBackRest backup /
restore time of a generated data set of known size (issue 7).

    python3 bench/replication.py [--scale 20] [--clients 8] [--seconds 30] [--json FILE]

Boots two testbed hosts (tb1 db_primary, tb2 db_replica), runs ``deploys/postgres.py``
(hardening, pooling, streaming replication), then on tb1 ``pgbench -i -s SCALE`` and
``pgbench -c CLIENTS -T SECONDS`` while a sampler on tb1 reads ``pg_stat_replication``
(lag bytes, write_lag, replay_lag) once a second. Then moto S3 over TLS on the control node
(tests/integration/s3_fixture.py), ``deploys/backups.py`` (stanza, first full backup), one
timed full backup of the loaded database and the restore drill (its measured RTO).

Beds use HARDENING_TESTBED_PREFIX=hbxrepl, NET_OFFSET=243 (10.77.244-245, free in bench/ and
the test slots), STATE=/run/hbxrepl unless these variables are set. Absolute times are
context only: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, pyinfra

sys.path.insert(0, str(ROOT))
BED_ENV = {
    "HARDENING_TESTBED_PREFIX": "hbxrepl",
    "HARDENING_TESTBED_NET_OFFSET": "243",
    "HARDENING_TESTBED_STATE": "/run/hbxrepl",
}
PSQL = "runuser -u postgres -- psql -XAtq"
PGBENCH = "runuser -u postgres -- pgbench"
#: one line per second: epoch|lag bytes|write_lag s|replay_lag s (the standby's row)
SAMPLE_SQL = (
    "SELECT extract(epoch FROM now()) || '|' || "
    "coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0) || '|' || "
    "coalesce(extract(epoch FROM write_lag), 0) || '|' || "
    "coalesce(extract(epoch FROM replay_lag), 0) FROM pg_stat_replication"
)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of ``values``; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def load_and_sample(bed, scale: int, clients: int, seconds: int) -> dict:  # noqa: ANN001
    """pgbench init + timed run on tb1 with a once-a-second lag sampler beside it."""
    started = time.perf_counter()
    bed.run("tb1", f"{PGBENCH} -q -i -s {scale} postgres >/dev/null 2>&1", timeout=1800)
    init_s = time.perf_counter() - started
    size = int(bed.run("tb1", f"{PSQL} -c \"SELECT pg_database_size('postgres')\"").strip())
    samples = seconds + 5
    script = (
        f'for i in $(seq {samples}); do {PSQL} -c "{SAMPLE_SQL}" >> /tmp/bench-lag.txt;'
        " sleep 1; done"
    )
    output = bed.run(
        "tb1",
        f"rm -f /tmp/bench-lag.txt; ( {script} ) & sampler=$!;"
        f" {PGBENCH} -c {clients} -j 2 -T {seconds} -n postgres 2>/dev/null; wait $sampler",
        timeout=seconds + 600,
    )
    tps = next(
        (float(line.split("=")[1].split()[0]) for line in output.splitlines()
         if line.startswith("tps =")),
        0.0,
    )  # fmt: skip
    rows = [line.split("|") for line in bed.run("tb1", "cat /tmp/bench-lag.txt").split()]
    lag_bytes = [float(row[1]) for row in rows if len(row) == 4]
    write_lag = [float(row[2]) for row in rows if len(row) == 4]
    replay_lag = [float(row[3]) for row in rows if len(row) == 4]
    return {
        "scale": scale,
        "database_bytes": size,
        "init_s": init_s,
        "clients": clients,
        "seconds": seconds,
        "tps": tps,
        "samples": len(lag_bytes),
        "lag_bytes_max": max(lag_bytes, default=0.0),
        "lag_bytes_p95": percentile(lag_bytes, 0.95),
        "write_lag_s_max": max(write_lag, default=0.0),
        "replay_lag_s_max": max(replay_lag, default=0.0),
        "replay_lag_s_p95": percentile(replay_lag, 0.95),
    }


def backup_and_restore(bed, env: dict[str, str], workdir: Path) -> dict:  # noqa: ANN001
    """moto S3, deploys/backups.py on tb1, one timed full backup, the restore drill's RTO."""
    from tests.integration.s3_fixture import S3Service
    from tests.integration.test_backups import point_backups_at

    s3 = S3Service(workdir / "s3", sorted({host.gateway for host in bed.hosts})).start()
    try:
        env = dict(env)
        point_backups_at(bed.config.inventory_file, s3, env)
        deploy_s = pyinfra(env, "deploys/backups.py", "--limit", "tb1")[1]
        started = time.perf_counter()
        bed.run(
            "tb1",
            "cd /tmp && runuser -u postgres -- pgbackrest --log-level-console=error"
            " --stanza=main --type=full backup",
            timeout=1800,
        )
        backup_s = time.perf_counter() - started
        info = json.loads(
            bed.run("tb1", "cd /tmp && runuser -u postgres -- pgbackrest --output=json info")
        )
        newest = info[0]["backup"][-1]["info"]
        drill_s = pyinfra(env, "deploys/restore_drill.py", "--limit", "tb1")[1]
        drill = json.loads(bed.run("tb1", "cat /var/lib/hardening/drill/last.json"))
    finally:
        s3.stop()
    return {
        "backups_deploy_s": deploy_s,
        "full_backup_s": backup_s,
        "backup_bytes": newest["size"],
        "repo_bytes": newest["repository"]["size"],
        "drill_wall_s": drill_s,
        "rto_s": drill.get("rto_seconds"),
        "rpo_s": drill.get("rpo_seconds"),
        "drill_ok": bool(drill.get("ok")),
    }


def print_table(row: dict) -> None:
    mb = 1024 * 1024
    print("| figure | value |")
    print("|---|---:|")
    lines = [
        ("deploys/postgres.py on 2 hosts (standby built), s", f"{row['postgres_deploy_s']:.1f}"),
        (f"pgbench -i -s {row['scale']} (database MB)", f"{row['database_bytes'] / mb:.0f}"),
        ("pgbench -i time incl. replication, s", f"{row['init_s']:.1f}"),
        (f"pgbench -c {row['clients']} -T {row['seconds']} TPS", f"{row['tps']:.0f}"),
        ("replication lag bytes max / p95", f"{row['lag_bytes_max']:.0f} / {row['lag_bytes_p95']:.0f}"),  # noqa: E501
        ("replay_lag s max / p95", f"{row['replay_lag_s_max']:.3f} / {row['replay_lag_s_p95']:.3f}"),  # noqa: E501
        ("write_lag s max", f"{row['write_lag_s_max']:.3f}"),
        ("deploys/backups.py (stanza + first full backup), s", f"{row['backups_deploy_s']:.1f}"),
        ("full backup, s", f"{row['full_backup_s']:.1f}"),
        ("backup size / in repository (compressed, encrypted), MB",
         f"{row['backup_bytes'] / mb:.0f} / {row['repo_bytes'] / mb:.0f}"),
        ("restore drill: measured RTO (restore+start+verify), s", f"{row['rto_s']:.1f}"),
        ("restore drill: RPO of the restored data, s", f"{row['rpo_s']:.1f}"),
        ("restore drill pyinfra wall time, s", f"{row['drill_wall_s']:.1f}"),
    ]  # fmt: skip
    for name, value in lines:
        print(f"| {name} | {value} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from hardening import testbed

    env = {**os.environ}
    for key, value in BED_ENV.items():
        env.setdefault(key, value)
    config = testbed.BedConfig.from_env(env)
    bed = testbed.up(2, "services", config)
    try:
        row = {"postgres_deploy_s": pyinfra(env, "deploys/postgres.py")[1]}
        row.update(load_and_sample(bed, args.scale, args.clients, args.seconds))
        with tempfile.TemporaryDirectory() as tmp:
            row.update(backup_and_restore(bed, env, Path(tmp)))
    finally:
        testbed.down(config)
    print_table(row)
    if args.json:
        args.json.write_text(json.dumps(row, indent=2))
    return 0 if row["drill_ok"] and row["samples"] else 1


if __name__ == "__main__":
    sys.exit(main())
