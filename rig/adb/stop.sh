#!/usr/bin/env bash
# Stop the rig's adb server and the adb device stand-in, each by the pid it recorded.
# The stand-in's private mount namespace (its /sys, /system, /data views) dies with it.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

ADB_STATE=$RIG_DIR/adb

stop_pid() {  # stop_pid PIDFILE PATTERN NAME
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    if pid_alive "$pid" && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$2"; then
        kill -TERM "$pid"
        for _ in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
        pid_alive "$pid" && kill -KILL "$pid"
        log "stopped $3 (pid $pid)"
    fi
    rm -f "$1"
}

stop_pid "$ADB_STATE/adb-server.pid" nodaemon "rig adb server"
stop_pid "$ADB_STATE/standin.pid" standin_adbd.py "adb device stand-in"
rm -f "$ADB_STATE/standin.port"
