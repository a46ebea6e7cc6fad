#!/usr/bin/env bash
# Bring the device test rig up: provision the arm64 root if needed (cached), start the emulated
# Pi (sshd) and the adb device stand-in, check both through their real clients, and write the
# env file tests read ($RIG_DIR/env, default .rig/env).  Exits non-zero, loudly, on any failure:
# CI must fail rather than silently skip the device tests.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
on_exit() {
    local rc=$?
    [ "$rc" -eq 0 ] && return
    echo "rig: FAILED (exit $rc): the device test rig is NOT up; see the messages above" >&2
    # Leave no half-started server behind (each is stopped by its recorded pid).
    "$RIG_SRC/adb/stop.sh" >/dev/null 2>&1 || true
    "$RIG_SRC/pi/stop.sh" >/dev/null 2>&1 || true
    exit "$rc"
}
trap on_exit EXIT
need_root
rm -f "$RIG_DIR/env"   # never leave a stale env file claiming the rig is up

t0=$SECONDS
# All host packages in one apt transaction (one `apt-get update`); a no-op when installed.
ensure_apt qemu-user-static binfmt-support mmdebstrap arch-test openssh-client python3 adb
"$RIG_SRC/pi/provision.sh"
t1=$SECONDS
"$RIG_SRC/pi/start.sh"
"$RIG_SRC/adb/start.sh"
t2=$SECONDS

# Smoke checks through the same clients the tests use.
arch=$(ssh -n -F "$SSH_CONFIG" "$PI_HOST_ALIAS" uname -m) || die "ssh to $PI_HOST_ALIAS failed"
[ "$arch" = aarch64 ] || die "emulated Pi reports '$arch', expected aarch64"
ssh -n -F "$SSH_CONFIG" "$PI_HOST_ALIAS" python -c "'import numpy, onnxruntime, ai_edge_litert'" \
    || die "the Pi's /opt/venv cannot import numpy, onnxruntime and ai_edge_litert"
abi=$(ANDROID_ADB_SERVER_PORT=$ADB_SERVER_PORT adb -s "$ADB_SERIAL" shell getprop ro.product.cpu.abi </dev/null) \
    || die "adb shell on $ADB_SERIAL failed"
[ "$abi" = arm64-v8a ] || die "adb stand-in reports ABI '$abi', expected arm64-v8a"
t3=$SECONDS

mkdir -p "$RIG_DIR"
{
    echo "# Written by rig/up.sh; removed by rig/down.sh.  Shell-quoted KEY=value lines."
    printf '%s=%q\n' \
        EDGEKIT_RIG_DIR "$RIG_DIR" \
        PI_ROOT "$PI_ROOT" \
        PI_SSH_CONFIG "$SSH_CONFIG" \
        PI_HOST_ALIAS "$PI_HOST_ALIAS" \
        PI_PORT "$PI_PORT" \
        ADB_SERIAL "$ADB_SERIAL" \
        ADB_PORT "$ADB_PORT" \
        ADB_SERVER_PORT "$ADB_SERVER_PORT" \
        ANDROID_ADB_SERVER_PORT "$ADB_SERVER_PORT" \
        ADB_STANDIN_PIDFILE "$RIG_DIR/adb/standin.pid" \
        ADB_KILL_FILE "$RIG_DIR/adb/KILL" \
        ADB_STANDIN "$RIG_SRC/adb/standin_adbd.py" \
        BENCHMARK_MODEL_STANDIN "$RIG_SRC/adb/benchmark_model_standin.py"
} > "$RIG_DIR/env.tmp"
mv "$RIG_DIR/env.tmp" "$RIG_DIR/env"
log "rig up: provision $((t1 - t0)) s, start $((t2 - t1)) s, checks $((t3 - t2)) s; env in $RIG_DIR/env"
