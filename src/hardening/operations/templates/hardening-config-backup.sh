#!/bin/sh
# Managed by hardening (DR-BAK-03): archive /etc and the services' configuration, then
# prune archives older than KEEP_WEEKS weeks. Settings: /etc/hardening/config-backup.conf.
set -eu
. /etc/hardening/config-backup.conf
umask 077
mkdir -p "$DESTINATION"
chmod 0700 "$DESTINATION"
archive="$DESTINATION/config-$(hostname)-$(date -u +%Y%m%dT%H%M%SZ).tar.gz"
existing=""
for path in $PATHS; do [ -e "$path" ] && existing="$existing $path"; done
# shellcheck disable=SC2086
tar --create --gzip --file "$archive.part" --ignore-failed-read $existing 2>/dev/null || [ $? -eq 1 ]
mv -f "$archive.part" "$archive"
find "$DESTINATION" -maxdepth 1 -name 'config-*.tar.gz' -mtime +$((KEEP_WEEKS * 7)) -delete
