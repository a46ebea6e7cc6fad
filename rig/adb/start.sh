#!/usr/bin/env bash
# Start the adb device stand-in (rig/adb/standin_adbd.py) on 127.0.0.1:$ADB_PORT and a private
# adb server on 127.0.0.1:$ADB_SERVER_PORT, then `adb connect` it.  Returns once
# `adb -s 127.0.0.1:$ADB_PORT get-state` says "device".
#   EDGEKIT_ADB_AUTH=none|accept|refuse   (default accept: RSA auth, new keys allowed at once)
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
need_root

[ -f "$PI_MARKER" ] || die "no provisioned root at $PI_ROOT: run rig/pi/provision.sh"
ensure_apt adb
ensure_binfmt

ADB_STATE=$RIG_DIR/adb
mkdir -p "$ADB_STATE"
standin_pidfile=$ADB_STATE/standin.pid
server_pidfile=$ADB_STATE/adb-server.pid
kill_file=$ADB_STATE/KILL
# The rig's adb server: own port (never the developer's 5037 server), own HOME so its RSA key
# pair is created under .rig and not in ~/.android, and mDNS off (adb >= 30 would otherwise
# open UDP 5353 on all interfaces; harmless for Debian's adb 29).
adb_env=(env HOME="$ADB_STATE/home" ANDROID_ADB_SERVER_PORT="$ADB_SERVER_PORT" ADB_MDNS=0)

is_ours() {  # is_ours PIDFILE PATTERN: pid alive and its command line contains PATTERN
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    pid_alive "$pid" && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$2"
}

# 1. the device stand-in (a stdlib-only python; the host's python3 is enough)
if is_ours "$standin_pidfile" standin_adbd.py; then
    log "adb stand-in already running (pid $(cat "$standin_pidfile"))"
else
    port_in_use "$ADB_PORT" && die "port $ADB_PORT is taken by another process (set EDGEKIT_ADB_PORT)"
    rm -f "$kill_file" "$ADB_STATE/standin.port"
    setsid /usr/bin/python3 "$RIG_SRC/adb/standin_adbd.py" \
        --root "$PI_ROOT" --state-dir "$ADB_STATE/device" --port "$ADB_PORT" \
        --port-file "$ADB_STATE/standin.port" --pidfile "$standin_pidfile" \
        --kill-file "$kill_file" --auth "${EDGEKIT_ADB_AUTH:-accept}" \
        </dev/null >>"$ADB_STATE/standin.log" 2>&1 &
    for _ in $(seq 1 100); do [ -s "$ADB_STATE/standin.port" ] && break; sleep 0.1; done
    [ -s "$ADB_STATE/standin.port" ] || { tail -n 20 "$ADB_STATE/standin.log" >&2; die "adb stand-in did not start"; }
    log "adb stand-in listening on $ADB_SERIAL (pid $(cat "$standin_pidfile"))"
fi

# 2. the rig's adb server, in the foreground mode so we hold its real pid
if is_ours "$server_pidfile" "nodaemon"; then
    log "rig adb server already running (pid $(cat "$server_pidfile"))"
else
    port_in_use "$ADB_SERVER_PORT" && die "port $ADB_SERVER_PORT is taken (set EDGEKIT_ADB_SERVER_PORT)"
    mkdir -p "$ADB_STATE/home"
    setsid "${adb_env[@]}" adb -L "tcp:localhost:$ADB_SERVER_PORT" nodaemon server \
        </dev/null >>"$ADB_STATE/adb-server.log" 2>&1 &
    for _ in $(seq 1 50); do port_in_use "$ADB_SERVER_PORT" && break; sleep 0.1; done
    port_in_use "$ADB_SERVER_PORT" || { tail -n 20 "$ADB_STATE/adb-server.log" >&2; die "adb server did not start"; }
    # Record the pid of the process that actually listens (not that of a wrapper).
    ss -Hltnp "sport = :$ADB_SERVER_PORT" | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2 > "$server_pidfile"
    is_ours "$server_pidfile" nodaemon || die "port $ADB_SERVER_PORT is not held by the rig's adb server"
fi

# 3. connect; with auth the first attempt may report "failed to authenticate" while the
#    stand-in accepts the new key, so retry until the state is "device".
for _ in $(seq 1 30); do
    "${adb_env[@]}" adb connect "$ADB_SERIAL" >/dev/null 2>&1 || true
    state=$("${adb_env[@]}" adb -s "$ADB_SERIAL" get-state 2>/dev/null || true)
    if [ "$state" = device ]; then
        log "adb device stand-in up: ANDROID_ADB_SERVER_PORT=$ADB_SERVER_PORT adb -s $ADB_SERIAL shell"
        exit 0
    fi
    sleep 0.5
done
die "adb did not see $ADB_SERIAL as a device (last state: ${state:-none}); see $ADB_STATE/*.log"
