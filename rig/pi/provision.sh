#!/usr/bin/env bash
# Build (once) the arm64 Debian root that plays a Raspberry Pi, and (every run) the client-side
# SSH files the tests use.  Idempotent: a complete cached root is detected by a marker file that
# is written last, so an interrupted build is never mistaken for a finished one.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
need_root

ensure_apt qemu-user-static binfmt-support mmdebstrap arch-test openssh-client python3
ensure_binfmt

mkdir -p "$RIG_CACHE"
# One builder at a time per machine (parallel CI jobs / engineers share the cache).
exec 9>"$RIG_CACHE/.lock"
flock -w 900 9 || die "timed out waiting for another provisioning run ($RIG_CACHE/.lock)"

debian_mirror() {
    # Read at run time, never committed: whatever archive this machine's apt already uses.
    if [ -n "${EDGEKIT_DEBIAN_MIRROR:-}" ]; then echo "$EDGEKIT_DEBIAN_MIRROR"; return; fi
    local f=/etc/apt/sources.list.d/debian.sources uri=""
    if [ -r "$f" ]; then
        # deb822 paragraphs: first stanza that lists a base suite (no "-security"/"-updates").
        uri=$(awk 'BEGIN { RS = "" } {
                u = ""; ok = 0; n = split($0, L, "\n")
                for (i = 1; i <= n; i++) {
                    if (L[i] ~ /^URIs:/)   { split(L[i], f, " "); u = f[2] }
                    if (L[i] ~ /^Suites:/) { m = split(L[i], s, " "); for (j = 2; j <= m; j++) if (s[j] !~ /-/) ok = 1 }
                }
                if (ok && u != "") { print u; exit } }' "$f")
    fi
    if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" && $3 !~ /-/ { print $2; exit }' /etc/apt/sources.list)
    fi
    [ -n "$uri" ] || die "no Debian mirror found in $f or /etc/apt/sources.list (set EDGEKIT_DEBIAN_MIRROR)"
    echo "$uri"
}

in_root() {  # run a command inside the root as aarch64 code, with a clean environment
    env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root LANG=C.UTF-8 \
        QEMU_CPU=cortex-a72 PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
        chroot "$BUILD" "$@"
}

build_root() {
    BUILD=$PI_ROOT.partial
    # Leftovers of an interrupted build: unmount first, then delete without crossing into
    # any filesystem still mounted below it (never rm -rf through a bind mount of /dev or /proc).
    if [ -e "$BUILD" ]; then
        unmount_all_under "$BUILD"
        rm -rf --one-file-system "$BUILD"
    fi
    local mirror t0=$SECONDS
    mirror=$(debian_mirror)
    log "building arm64 $PI_SUITE root in $BUILD (mirror from apt sources; ~3 min)"
    # mmdebstrap, not debootstrap: debootstrap takes this VM for a container and leaves
    # ROOT/proc as a symlink to the host /proc (pitfall 1).  force-unsafe-io: a throwaway root.
    # Everything inside runs emulated, so every avoidable maintainer-script cycle counts:
    # - host keys made natively before openssh-server is configured (its postinst only creates
    #   missing ones; an emulated 3072-bit RSA keygen alone takes ~10 s);
    # - no man pages, locales or docs (less for the emulated dpkg to unpack).
    # shellcheck disable=SC2016  # the hook is expanded by mmdebstrap's shell, "$1" = the root
    mmdebstrap --quiet --mode=root --architectures=arm64 --variant=minbase \
        --include="$PI_INCLUDE" --dpkgopt=force-unsafe-io \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --essential-hook='mkdir -p "$1/etc/ssh" && for t in rsa ecdsa ed25519; do ssh-keygen -q -t $t -N "" -C edgekit-rig -f "$1/etc/ssh/ssh_host_${t}_key"; done' \
        "$PI_SUITE" "$BUILD" "$mirror" </dev/null \
        || die "mmdebstrap failed (see output above)"
    if [ ! -d "$BUILD/proc" ] || [ -L "$BUILD/proc" ]; then die "$BUILD/proc is not a plain directory"; fi
    log "mmdebstrap done in $((SECONDS - t0)) s"

    # pip inside the root needs DNS and the host's CA bundle (this network may intercept TLS).
    rm -f "$BUILD/etc/resolv.conf" "$BUILD/etc/ssl/certs/ca-certificates.crt"
    cat /etc/resolv.conf > "$BUILD/etc/resolv.conf"
    cat /etc/ssl/certs/ca-certificates.crt > "$BUILD/etc/ssl/certs/ca-certificates.crt"

    # bookworm's python is "externally managed" (PEP 668), as on a real Pi: use a venv.
    # Speed: wheels are fetched natively (host python running the root's own pip wheel, for the
    # aarch64 platform tags), then the emulated pip installs them offline without byte-compiling
    # everything; one import as root then compiles just what `import numpy, onnxruntime,
    # ai_edge_litert` loads (the 'pi' user cannot write __pycache__ into the venv).
    t0=$SECONDS
    local pipwhl wheels=/tmp/edgekit-wheels platforms=() v
    pipwhl=$(cd "$BUILD" && find usr/share/python-wheels -name 'pip-*.whl' | head -n1)
    [ -n "$pipwhl" ] || die "python3-venv brought no pip wheel into the root"
    for v in 17 27 28 31 34 35 36; do platforms+=(--platform "manylinux_2_${v}_aarch64"); done
    # shellcheck disable=SC2086  # PI_WHEELS is a list of pinned requirement specifiers
    /usr/bin/python3 "$BUILD/$pipwhl/pip" download -qq --disable-pip-version-check \
        --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
        "${platforms[@]}" --platform manylinux2014_aarch64 --platform linux_aarch64 \
        --dest "$BUILD$wheels" $PI_WHEELS </dev/null || die "downloading the aarch64 wheels failed"
    in_root /usr/bin/python3 -m venv --without-pip /opt/venv
    # shellcheck disable=SC2086
    in_root /opt/venv/bin/python3 "/$pipwhl/pip" install --quiet --no-cache-dir \
        --disable-pip-version-check --no-compile --no-index \
        --find-links "$wheels" --find-links /usr/share/python-wheels pip $PI_WHEELS </dev/null \
        || die "pip install in the arm64 root failed"
    rm -rf "${BUILD:?}$wheels"
    mount_pi_views "$BUILD"
    in_root /opt/venv/bin/python3 -c 'import numpy, onnxruntime, ai_edge_litert.interpreter' \
        || { unmount_pi_views "$BUILD"; die "the fresh venv cannot import its runtimes"; }
    unmount_pi_views "$BUILD"
    log "venv + wheels done in $((SECONDS - t0)) s"

    # Pitfall 4: useradd leaves the account locked ('!'); sshd with UsePAM no then refuses it
    # even with a valid key.  '*' = no password, but not locked.
    in_root /usr/sbin/useradd -m -s /bin/bash pi
    in_root /usr/sbin/usermod -p '*' pi
    # The adb stand-in runs device commands as Android's shell user (uid 2000).
    in_root /usr/sbin/groupadd -g 2000 shell
    in_root /usr/sbin/useradd -u 2000 -g 2000 -M -d / -s /bin/sh shell
    # Mount points for the adb stand-in's private view (/data, /system, /sdcard).
    mkdir -p "$BUILD/data" "$BUILD/system" "$BUILD/sdcard"
    [ -s "$BUILD/etc/ssh/ssh_host_ed25519_key" ] || die "no ssh host key in the root"
    # The distro's sshd service is never started (no init here); ours uses its own config.

    echo "$PI_MARKER_TEXT" > "$BUILD/.edgekit-rig-complete"   # written last
    if [ -e "$PI_ROOT" ]; then
        unmount_all_under "$PI_ROOT"
        rm -rf --one-file-system "$PI_ROOT"
    fi
    mv "$BUILD" "$PI_ROOT"
}

if [ -f "$PI_MARKER" ] && [ "$(cat "$PI_MARKER")" = "$PI_MARKER_TEXT" ]; then
    log "arm64 root is ready (cached at $PI_ROOT)"
else
    if [ -e "$PI_ROOT" ]; then
        log "cached root at $PI_ROOT is incomplete or outdated: rebuilding"
        # An outdated root may still be serving a previous run: stop what we know of first.
        "$RIG_SRC/adb/stop.sh" || true
        "$RIG_SRC/pi/stop.sh" || true
        if mounts_under "$PI_ROOT" | grep -q .; then
            die "$PI_ROOT is still mounted (used by another checkout?); run its rig/down.sh first"
        fi
    fi
    build_root
fi

# --- client side, per checkout: key pair, known_hosts, ssh config (never ~/.ssh) -------------
mkdir -p "$SSH_DIR"
chmod 700 "$SSH_DIR"
[ -s "$SSH_DIR/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "edgekit-rig@$(hostname)" -f "$SSH_DIR/id_ed25519"

# Pin the rig's host key (the root may have been rebuilt, or the port changed: rewrite each run).
read -r keytype keyblob _ < "$PI_ROOT/etc/ssh/ssh_host_ed25519_key.pub"
printf '[127.0.0.1]:%s %s %s\n' "$PI_PORT" "$keytype" "$keyblob" > "$SSH_DIR/known_hosts"

cat > "$SSH_CONFIG" <<CONF
# Written by rig/pi/provision.sh -- use with: ssh -F "$SSH_CONFIG" $PI_HOST_ALIAS
Host $PI_HOST_ALIAS
    HostName 127.0.0.1
    Port $PI_PORT
    User pi
    IdentityFile "$SSH_DIR/id_ed25519"
    IdentitiesOnly yes
    UserKnownHostsFile "$SSH_DIR/known_hosts"
    StrictHostKeyChecking yes
    HostKeyAlgorithms ssh-ed25519
    BatchMode yes
    ConnectTimeout 15
    LogLevel ERROR
CONF

# Authorize this checkout's key (append: other checkouts may share the cached root).
auth=$PI_ROOT/home/pi/.ssh/authorized_keys
inside_root "$auth" || die "$auth resolves outside the root"
pi_ids=$(awk -F: '$1 == "pi" { print $3 ":" $4 }' "$PI_ROOT/etc/passwd")
mkdir -p "$PI_ROOT/home/pi/.ssh"
touch "$auth"
grep -qxF "$(cat "$SSH_DIR/id_ed25519.pub")" "$auth" || cat "$SSH_DIR/id_ed25519.pub" >> "$auth"
chown -R "$pi_ids" "$PI_ROOT/home/pi/.ssh"
chmod 700 "$PI_ROOT/home/pi/.ssh"
chmod 600 "$auth"
log "ssh client files in $SSH_DIR"
