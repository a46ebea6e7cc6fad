#!/usr/bin/env python3
"""STAND-IN FOR AN ANDROID DEVICE, for edgekit's test rig.  Not adbd, not Android, not a phone.

This is the *device* side of the adb TCP transport, written from the published protocol
(adb's protocol.txt / SYNC.TXT / shell_protocol.h), standard library only.  A real adb client
(Debian's adb 29, adb 36, adbutils, adb-shell) connects to it like to a phone on Wi-Fi debugging:

    adb connect 127.0.0.1:PORT
    adb -s 127.0.0.1:PORT shell getprop ro.product.cpu.abi     -> arm64-v8a
    adb -s 127.0.0.1:PORT shell uname -m                        -> aarch64
    adb -s 127.0.0.1:PORT push model.tflite /data/local/tmp/

What it is made of:
  * messages: CNXN, AUTH (optional RSA auth, incl. a "never accepted" unauthorized mode), OPEN,
    OKAY, WRTE, CLSE, with one-packet-in-flight flow control per stream;
  * services: ``shell,v2:`` (stdout/stderr/exit code), ``shell:`` (legacy, merged output),
    ``exec:`` and ``sync:`` (STAT/STA2/LST2, LIST/LIS2, SEND, RECV, QUIT);
  * commands run *inside the arm64 Debian root* built by rig/pi/provision.sh, via ``chroot``
    and qemu-user (binfmt_misc), as uid 2000 like Android's ``shell`` user, so a pushed
    model really runs as aarch64 code.

What the device "looks like" is synthetic and lives in a private mount namespace of this
process (so the emulated Pi sharing the same root never sees it):
  * /system/bin/getprop answering ro.product.cpu.abi=arm64-v8a, ro.product.model, ... and
    ro.edgekit.standin=1 (so anything can tell it is talking to the stand-in);
  * /sys/devices/system/cpu: a SYNTHETIC 4 little (1.8 GHz) + 4 big (2.8 GHz) topology for
    big.LITTLE detection, and a matching 8-core /proc/cpuinfo.  The host actually gives the
    emulated code only as many cores as it has (nproc/taskset see the real ones);
  * /system/bin/taskset: a shim that maps the requested mask onto the host's real CPUs (a
    mask for cores 4-7 would otherwise fail with EINVAL on a 2-core host);
  * /data/local/tmp and /sdcard: per-instance directories under --state-dir.

What it cannot tell you: anything about a phone's speed, thermal behaviour, Android's
toybox/mksh quirks, SELinux, or the real benchmark_model binary (see
benchmark_model_standin.py).  qemu-user makes code ~100x slower than the real thing.

Test controls: --auth none|accept|refuse (refuse = the user never taps "Allow": the client
shows the device as unauthorized), --offline (accepts TCP, never completes CNXN),
--kill-file PATH (when the file appears every connection is dropped and the process exits,
like a phone being unplugged), SIGTERM (same), --pidfile, --port 0 + --port-file.
Must run as root (chroot, mount namespace).

Files (beside this one): adb_wire.py (packets, streams, CNXN/AUTH/OPEN), adb_keys.py (RSA
auth), adb_shell.py (shell/exec services), adb_sync.py (file transfer), adb_device.py (paths,
commands as the shell user, the synthetic device view). This file: options and the accept loop.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))  # the adb_* modules beside this file
from adb_device import Device, build_device_view, default_props, enter_private_namespace  # noqa: E402
from adb_keys import SHA1_DIGEST_INFO, verify_signature  # noqa: E402,F401  (used by tests)
from adb_shell import exec_service, shell_service  # noqa: E402
from adb_sync import sync_service  # noqa: E402
from adb_wire import Connection  # noqa: E402

log = logging.getLogger("standin_adbd")
SERVICES = {"shell": shell_service, "exec": exec_service, "sync": sync_service}


def service_handler(service: str):
    return SERVICES.get(service.split(":", 1)[0].split(",", 1)[0])


# --- main -------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True, type=Path, help="arm64 root from rig/pi/provision.sh")
    ap.add_argument("--state-dir", required=True, type=Path, help="this device's private files")
    ap.add_argument("--host", default="127.0.0.1", help="listen address (keep it loopback)")
    ap.add_argument("--port", type=int, default=5600, help="0 = any free port (see --port-file)")
    ap.add_argument("--port-file", type=Path, help="write the listening port here once ready")
    ap.add_argument("--pidfile", type=Path)
    ap.add_argument("--auth", choices=("none", "accept", "refuse"), default="accept",
                    help="none: no AUTH (ro.adb.secure=0); accept: RSA auth, new keys allowed "
                         "at once; refuse: new keys never allowed (client sees 'unauthorized')")
    ap.add_argument("--offline", action="store_true", help="never answer CNXN (client: 'offline')")
    ap.add_argument("--kill-file", type=Path, help="exit, dropping all connections, when this appears")
    ap.add_argument("--qemu-cpu", default="cortex-a76", help="QEMU_CPU for device commands")
    ap.add_argument("--serial", default=None, help="ro.serialno (default: standin-PORT)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s standin_adbd[%(process)d] %(message)s")
    if os.geteuid() != 0:
        ap.error("must run as root (chroot and a private mount namespace)")
    if not (args.root / "bin/sh").exists():
        ap.error(f"{args.root} does not look like a provisioned root")
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        ap.error("this stand-in only listens on loopback")

    state = args.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    dev = Device(root=args.root.resolve(), state=state, auth=args.auth, offline=args.offline,
                 qemu_cpu=args.qemu_cpu)
    sock = socket.create_server((args.host, args.port), reuse_port=False)
    port = sock.getsockname()[1]
    dev.props = default_props(args.serial or f"standin-{port}")
    build_device_view(dev)
    enter_private_namespace(dev)  # before any thread exists

    def shutdown(why: str) -> None:
        log.info("shutting down: %s", why)
        dev.kill_all()
        os._exit(0)  # drops every TCP connection at once, like a cable pull

    signal.signal(signal.SIGTERM, lambda *_: shutdown("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: shutdown("SIGINT"))
    if args.kill_file:
        def watch() -> None:
            while not args.kill_file.exists():
                time.sleep(0.2)
            shutdown(f"kill file {args.kill_file} appeared")
        threading.Thread(target=watch, daemon=True).start()
    if args.pidfile:
        args.pidfile.write_text(f"{os.getpid()}\n")
    if args.port_file:
        tmp = args.port_file.with_suffix(".tmp")
        tmp.write_text(f"{port}\n")
        tmp.replace(args.port_file)
    log.info("adb device STAND-IN listening on %s:%d (root %s, auth=%s%s)", args.host, port,
             dev.root, args.auth, ", offline" if args.offline else "")
    while True:
        client, addr = sock.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(dev, client, f"{addr[0]}:{addr[1]}", service_handler)
        threading.Thread(target=conn.serve, daemon=True, name=f"conn-{addr[1]}").start()


if __name__ == "__main__":
    sys.exit(main())
