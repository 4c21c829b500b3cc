#!/bin/sh
# Managed by hardening (INF-06, DR-RPO-02): send a marker line through syslog. The central
# log host stores it with its arrival time, so the forwarding delay is measured there.
set -eu
sent=$(date +%s.%N)
logger -t hardening-log-marker "host=$(hostname) sent=$sent"
mkdir -p /var/lib/hardening/logs
printf '{"sent": %s}\n' "$sent" > /var/lib/hardening/logs/forwarding.json.tmp
mv -f /var/lib/hardening/logs/forwarding.json.tmp /var/lib/hardening/logs/forwarding.json
