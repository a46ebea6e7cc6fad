#!/usr/bin/env bash
# Start the emulated Pi: the root's own aarch64 OpenSSH server, run via chroot under
# qemu-user, on 127.0.0.1:$PI_PORT.  Returns once `ssh -F CONFIG edgekit-pi true` works.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
need_root

[ -f "$PI_MARKER" ] || die "no provisioned root at $PI_ROOT: run rig/pi/provision.sh"
[ -f "$SSH_CONFIG" ] || die "no ssh client config at $SSH_CONFIG: run rig/pi/provision.sh"
ensure_binfmt

ssh_ok() { ssh -n -F "$SSH_CONFIG" "$PI_HOST_ALIAS" true 2>/dev/null; }

pidfile=$PI_ROOT$SSHD_PIDFILE_IN_ROOT
if [ -f "$pidfile" ] && pid_alive "$(cat "$pidfile")" && ssh_ok; then
    log "emulated Pi already running (sshd pid $(cat "$pidfile"), port $PI_PORT)"
    exit 0
fi
port_in_use "$PI_PORT" && die "port $PI_PORT is taken by another process (set EDGEKIT_PI_PORT)"

mount_pi_views "$PI_ROOT"
mkdir -p "$PI_ROOT/run/sshd"   # sshd's privilege-separation directory

# Our own config, so the distro's sshd_config (port 22, PAM) is never used.
# Pitfall 3: qemu's default CPU model ("max") gives wrong int8 results in LiteRT/XNNPACK and is
# 15x slower: every session gets QEMU_CPU=cortex-a72 (Pi 4).  qemu reads it per exec, so
# `env QEMU_CPU=cortex-a76 python ...` inside a session emulates a Pi 5 with the same root.
# Pitfall 4: UsePAM no (there is no PAM stack to talk to) -- hence usermod -p '*' at provisioning.
cat > "$PI_ROOT/etc/ssh/edgekit_rig_sshd_config" <<CONF
# Written by rig/pi/start.sh
Port $PI_PORT
ListenAddress 127.0.0.1
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile $SSHD_PIDFILE_IN_ROOT
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
Subsystem sftp /usr/lib/openssh/sftp-server
SetEnv QEMU_CPU=cortex-a72 PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin
LogLevel INFO
CONF

sshd_env=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin QEMU_CPU=cortex-a72)
"${sshd_env[@]}" chroot "$PI_ROOT" /usr/sbin/sshd -t -f /etc/ssh/edgekit_rig_sshd_config \
    || die "sshd rejected its config"
rm -f "$pidfile"
# sshd daemonizes itself and writes the PidFile; its pid is that of the qemu process.
"${sshd_env[@]}" chroot "$PI_ROOT" /usr/sbin/sshd -f /etc/ssh/edgekit_rig_sshd_config \
    -E /var/log/edgekit-rig-sshd.log </dev/null || die "sshd failed to start (see $PI_ROOT/var/log/edgekit-rig-sshd.log)"

for _ in $(seq 1 120); do
    if ssh_ok; then
        log "emulated Pi up: ssh -F $SSH_CONFIG $PI_HOST_ALIAS (sshd pid $(cat "$pidfile"))"
        exit 0
    fi
    sleep 0.5
done
tail -n 20 "$PI_ROOT/var/log/edgekit-rig-sshd.log" >&2 || true
die "sshd started but 'ssh -F $SSH_CONFIG $PI_HOST_ALIAS true' did not succeed within 60 s"
