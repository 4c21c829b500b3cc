#!/bin/sh
# Managed by hardening (deploys/backups.py): record a pgBackRest backup run for the node
# exporter's textfile collector (MON-INFO-02, alert BackupNotCompleted).
#
# Usage: EXIT_STATUS=<code> hardening-backup-metrics <stanza> [<seconds taken>]
# systemd sets EXIT_STATUS for ExecStopPost (a number, or a signal name: counted as 1);
# BACKUP_FINISHED_AT (Unix time, default now) records an earlier run.
# A failed run keeps the previous success time; the file is replaced atomically.
set -eu
dir="${HARDENING_TEXTFILE_DIR:-/var/lib/prometheus/node-exporter}"
[ -d "$dir" ] || exit 0
file="$dir/backup.prom"
stanza="$1"
duration="${2:-}"
code="${EXIT_STATUS:-1}"
case "$code" in '' | *[!0-9]*) code=1 ;; esac
now="${BACKUP_FINISHED_AT:-$(date +%s)}"
last=$(sed -n 's/^backup_last_success_timestamp_seconds{[^}]*} \([0-9][0-9]*\)$/\1/p' \
    "$file" 2>/dev/null || true)
[ "$code" -ne 0 ] || last="$now"
labels="stanza=\"$stanza\""
{
    echo "# HELP backup_last_exit_code Exit code of the last pgBackRest backup (0: success)."
    echo "# TYPE backup_last_exit_code gauge"
    echo "backup_last_exit_code{$labels} $code"
    echo "# HELP backup_last_run_timestamp_seconds Unix time the last backup run ended."
    echo "# TYPE backup_last_run_timestamp_seconds gauge"
    echo "backup_last_run_timestamp_seconds{$labels} $now"
    if [ -n "$last" ]; then
        echo "# HELP backup_last_success_timestamp_seconds Unix time of the last good backup."
        echo "# TYPE backup_last_success_timestamp_seconds gauge"
        echo "backup_last_success_timestamp_seconds{$labels} $last"
    fi
    if [ -n "$duration" ]; then
        echo "# HELP backup_last_duration_seconds Seconds the last backup run took."
        echo "# TYPE backup_last_duration_seconds gauge"
        echo "backup_last_duration_seconds{$labels} $duration"
    fi
} >"$file.tmp"
chmod 0644 "$file.tmp"
mv -f "$file.tmp" "$file"
