#!/usr/bin/env bash
# Stop the emulated Pi: its sshd (by the PID in its PidFile), any session it left behind,
# then unmount what start.sh mounted.  Safe to run when nothing is running.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
need_root

[ -d "$PI_ROOT" ] || exit 0
root_real=$(realpath -- "$PI_ROOT")
my_ns=$(readlink /proc/self/ns/mnt)

# Processes chrooted into this root and living in our mount namespace (the adb stand-in's
# commands live in its own namespace and are its business).
rig_pids() {
    local d pid
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [ "$(readlink "$d/root" 2>/dev/null)" = "$root_real" ] || continue
        [ "$(readlink "$d/ns/mnt" 2>/dev/null)" = "$my_ns" ] || continue
        echo "$pid"
    done
}

pidfile=$PI_ROOT$SSHD_PIDFILE_IN_ROOT
if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    # Only signal it if it really is a process inside our root (pids get reused).
    if pid_alive "$pid" && [ "$(readlink "/proc/$pid/root")" = "$root_real" ]; then
        kill -TERM "$pid"
        for _ in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
        pid_alive "$pid" && kill -KILL "$pid"
    fi
    rm -f "$pidfile"
fi
# Sessions outlive the listening sshd; end them so the mounts below are not busy.
for pid in $(rig_pids); do kill -TERM "$pid" 2>/dev/null || true; done
sleep 0.3
for pid in $(rig_pids); do kill -KILL "$pid" 2>/dev/null || true; done

unmount_pi_views "$PI_ROOT"
log "emulated Pi stopped"
