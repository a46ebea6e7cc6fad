#!/usr/bin/env bash
# Stop everything rig/up.sh started (each by its recorded pid) and unmount.  Keeps the cached
# root; remove it with: rm -rf --one-file-system "${EDGEKIT_RIG_CACHE:-/var/cache/edgekit-rig}"
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need_root
rm -f "$RIG_DIR/env"
rc=0
"$RIG_SRC/adb/stop.sh" || rc=1
"$RIG_SRC/pi/stop.sh" || rc=1
exit $rc
