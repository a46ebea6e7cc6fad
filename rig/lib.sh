# shellcheck shell=bash
# Shared settings and helpers for the edgekit test rig. Sourced by the rig scripts, never run.
# shellcheck disable=SC2034  # the settings are used by the scripts that source this file
# Every path/port can be overridden from the environment, so two checkouts (or CI and a human)
# can keep separate state.  See rig/README.md.

RIG_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$RIG_SRC")
# Per-checkout state (keys, ssh config, pid files, logs, env file). /.rig/ is in .gitignore.
RIG_DIR=${EDGEKIT_RIG_DIR:-$REPO/.rig}
# Per-machine cache: the ~500 MB arm64 root is built once and reused by later CI runs.
RIG_CACHE=${EDGEKIT_RIG_CACHE:-/var/cache/edgekit-rig}
PI_ROOT=${EDGEKIT_PI_ROOT:-$RIG_CACHE/pi-root}
PI_PORT=${EDGEKIT_PI_PORT:-2222}
PI_HOST_ALIAS=edgekit-pi
# Outside 5555-5585: the adb server scans that range for emulators and would list us twice.
ADB_PORT=${EDGEKIT_ADB_PORT:-5600}
# A private adb server for the rig, so we never touch a developer's own server on 5037.
ADB_SERVER_PORT=${EDGEKIT_ADB_SERVER_PORT:-5038}
ADB_SERIAL=127.0.0.1:$ADB_PORT

# Pinned contents of the root.  ai-edge-litert, not tflite-runtime: tflite-runtime 2.14 (the
# last with an aarch64 wheel) cannot create an Interpreter under numpy 2 (DEVICES.md pitfall 6). Changing any of these invalidates the cached root (see marker).
PI_SUITE=bookworm
PI_INCLUDE=python3,python3-venv,openssh-server,ca-certificates,procps
PI_WHEELS="numpy==2.4.6 onnxruntime==1.31.1 ai-edge-litert==2.3.0"
ROOT_LAYOUT=3   # bump when provision.sh changes what it puts in the root
PI_MARKER=$PI_ROOT/.edgekit-rig-complete
PI_MARKER_TEXT="layout=$ROOT_LAYOUT suite=$PI_SUITE include=$PI_INCLUDE wheels=$PI_WHEELS"

SSH_DIR=$RIG_DIR/ssh
SSH_CONFIG=$SSH_DIR/config
SSHD_PIDFILE_IN_ROOT=/run/edgekit-rig-sshd.pid

log() { printf 'rig: %s\n' "$*" >&2; }
die() { printf 'rig: ERROR: %s\n' "$*" >&2; exit 1; }

need_root() { [ "$(id -u)" -eq 0 ] || die "must run as root (chroot, mount, apt-get)"; }

# Install Debian packages only when missing, so a warm run never touches the network.
ensure_apt() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null \
        || die "apt-get install ${missing[*]} failed"
}

# binfmt_misc registrations vanish on reboot while the cached root survives, so this runs on
# every start, not only at provisioning.  The F flag makes the kernel open qemu-aarch64-static
# at registration time, which is what lets `chroot ROOT /bin/sh` work with no qemu copy inside.
ensure_binfmt() {
    local entry=/proc/sys/fs/binfmt_misc/qemu-aarch64
    [ -e /proc/sys/fs/binfmt_misc/status ] \
        || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
        || die "cannot mount binfmt_misc (needed to run arm64 code)"
    [ -e "$entry" ] || update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
    [ -e "$entry" ] || die "qemu-aarch64 is not registered in binfmt_misc (is qemu-user-static installed?)"
    grep -q '^enabled' "$entry" || die "$entry is disabled"
    grep -q '^flags:.*F' "$entry" || die "$entry lacks the F (fix-binary) flag; chroot into arm64 would fail"
}

# Pitfall 1 (DEVICES.md): debootstrap can leave ROOT/proc as a symlink to the host's /proc.
# Never mount onto or write through a path inside the root that resolves outside it.
inside_root() {  # inside_root PATH: fails if PATH resolves (through symlinks) outside PI_ROOT
    case "$(realpath -m -- "$1")" in "$(realpath -m -- "$PI_ROOT")"/*) return 0 ;; *) return 1 ;; esac
}

# Mount points at or below DIR, deepest first (read from mountinfo so nothing is followed).
mounts_under() {
    local dir
    dir=$(realpath -m -- "$1")
    awk -v d="$dir" '{ if ($5 == d || index($5, d "/") == 1) print $5 }' /proc/self/mountinfo | sort -r
}

unmount_all_under() {
    local m
    for m in $(mounts_under "$1"); do
        umount "$m" 2>/dev/null || umount -l "$m" || log "could not unmount $m"
    done
}

port_in_use() { ss -Hltn "sport = :$1" | grep -q .; }

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# The kernel views the emulated Pi needs inside the root ROOT (default PI_ROOT).  Used by
# pi/start.sh, and briefly by provision.sh to pre-compile the imports.
mount_pi_views() {
    local root=${1:-$PI_ROOT} pisys=$RIG_DIR/pi/sys cpu n f
    inside() { case "$(realpath -m -- "$1")" in "$(realpath -m -- "$root")"/*) return 0 ;; esac; return 1; }
    # Pitfall 1: refuse to mount onto anything that resolves outside the root.
    for f in proc sys dev/pts; do inside "$root/$f" || die "$root/$f resolves outside the root; refusing to mount"; done
    mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
    # Pitfall 2: onnxruntime (pytorch/cpuinfo) parses /proc/cpuinfo and segfaults at import under
    # qemu 7.2 when it finds the x86 host's format.  Show it a Pi 4 (4x Cortex-A72) instead.
    # Must come after the proc mount, or the proc mount would hide it.
    if ! findmnt -rn "$root/proc/cpuinfo" >/dev/null; then
        mount --bind "$RIG_SRC/pi/cpuinfo-pi4.txt" "$root/proc/cpuinfo"
        mount -o remount,bind,ro "$root/proc/cpuinfo"
    fi
    # A synthetic Pi 4 cpu topology in /sys.  With no /sys/devices/system/cpu at all,
    # onnxruntime's cpuinfo prints "Error in cpuinfo: failed to parse the list of possible
    # processors" on every import; the host's real /sys would describe the host instead.
    if ! findmnt -rn "$root/sys" >/dev/null; then
        cpu=$pisys/devices/system/cpu
        mkdir -p "$cpu"   # (re)written in place, never deleted: it may be mounted elsewhere
        echo "Synthetic sysfs written by the edgekit rig (Raspberry Pi 4 layout); not real hardware." > "$pisys/SYNTHETIC_README"
        for f in possible present online; do echo 0-3 > "$cpu/$f"; done
        echo 3 > "$cpu/kernel_max"
        for n in 0 1 2 3; do
            mkdir -p "$cpu/cpu$n/cpufreq" "$cpu/cpu$n/topology"
            echo 1 > "$cpu/cpu$n/online"
            echo 1500000 > "$cpu/cpu$n/cpufreq/cpuinfo_max_freq"
            echo 600000 > "$cpu/cpu$n/cpufreq/cpuinfo_min_freq"
            echo 0 > "$cpu/cpu$n/topology/physical_package_id"
            echo "$n" > "$cpu/cpu$n/topology/core_id"
            echo 0-3 > "$cpu/cpu$n/topology/core_siblings_list"
        done
        mount --bind "$pisys" "$root/sys"
        mount -o remount,bind,ro "$root/sys"
    fi
    # Private pty instance, so `ssh -t` works without exposing the host's /dev/pts.
    mkdir -p "$root/dev/pts"
    mountpoint -q "$root/dev/pts" || mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$root/dev/pts"
    [ -e "$root/dev/ptmx" ] || ln -s pts/ptmx "$root/dev/ptmx"
}

unmount_pi_views() {
    local root=${1:-$PI_ROOT} m
    for m in "$root/dev/pts" "$root/sys" "$root/proc/cpuinfo" "$root/proc"; do
        if findmnt -rn "$m" >/dev/null 2>&1; then
            umount "$m" 2>/dev/null || { log "$m busy; lazy unmount"; umount -l "$m"; }
        fi
    done
}
