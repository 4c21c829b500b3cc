#!/bin/sh
# Managed by hardening (MON-INFO-04): add the journal entries written since the last run to
# the counter log_messages_total{source="journal"} in the node exporter's textfile collector
# (alert LogVolumeAnomaly compares its hourly rate with the same hour yesterday). The
# journal cursor is kept in a state file, so each entry is counted once; the first run
# starts the counter at 0 from the newest entry. The file is replaced atomically.
set -eu
dir="${HARDENING_TEXTFILE_DIR:-/var/lib/prometheus/node-exporter}"
state="${HARDENING_LOG_VOLUME_STATE:-/var/lib/hardening/logs}/journal.cursor"
[ -d "$dir" ] || exit 0
mkdir -p "$(dirname "$state")"
file="$dir/log-volume.prom"
total=$(sed -n 's/^log_messages_total{source="journal"} \([0-9][0-9]*\)$/\1/p' \
    "$file" 2>/dev/null || true)
if [ -s "$state" ] && [ -n "$total" ]; then
    new=$(journalctl -q --cursor-file="$state" -o json --output-fields=PRIORITY | wc -l)
else
    journalctl -q -n 1 --cursor-file="$state" -o cat >/dev/null || true
    total=0
    new=0
fi
{
    echo "# HELP log_messages_total Journal entries written on this host (counted every minute)."
    echo "# TYPE log_messages_total counter"
    echo "log_messages_total{source=\"journal\"} $((total + new))"
} >"$file.tmp"
chmod 0644 "$file.tmp"
mv -f "$file.tmp" "$file"
