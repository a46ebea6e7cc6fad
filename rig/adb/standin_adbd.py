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
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import errno
import logging
import os
import queue
import selectors
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("standin_adbd")

# --- wire constants (adb protocol.txt) --------------------------------------------------------
A_SYNC, A_CNXN, A_OPEN, A_OKAY = 0x434E5953, 0x4E584E43, 0x4E45504F, 0x59414B4F
A_CLSE, A_WRTE, A_AUTH = 0x45534C43, 0x45545257, 0x48545541
A_VERSION = 0x01000001
MAX_PAYLOAD = 256 * 1024  # what we accept; the host tells us what it accepts
AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3
HEADER = struct.Struct("<6I")
SYNC_DATA_MAX = 64 * 1024
# shell_v2 packet ids (shell_protocol.h)
SH_STDIN, SH_STDOUT, SH_STDERR, SH_EXIT, SH_CLOSE_STDIN, SH_WINSIZE = 0, 1, 2, 3, 4, 5
FEATURES = "shell_v2,stat_v2,ls_v2,fixed_push_mkdir"
# RSA PKCS#1 v1.5 DigestInfo prefix for SHA-1: adb signs the 20-byte token as if it were a digest.
SHA1_DIGEST_INFO = bytes.fromhex("3021300906052b0e03021a05000414")
SHELL_UID = SHELL_GID = 2000
CLONE_NEWNS = 0x00020000
# The host's chroot, by absolute path: commands get the *device's* PATH, not the host's.
CHROOT = shutil.which("chroot", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/chroot"
SETSID = shutil.which("setsid", path="/usr/bin:/bin") or "/usr/bin/setsid"

CMD_NAMES = {A_SYNC: "SYNC", A_CNXN: "CNXN", A_OPEN: "OPEN", A_OKAY: "OKAY",
             A_CLSE: "CLSE", A_WRTE: "WRTE", A_AUTH: "AUTH"}


class StreamClosed(Exception):
    pass


@dataclass
class Device:
    """What this stand-in pretends to be, and where its files live."""

    root: Path  # the arm64 Debian root (shared, read-mostly)
    state: Path  # this instance's /data, /sdcard, /system, /sys and adb_keys
    auth: str = "accept"
    offline: bool = False
    qemu_cpu: str = "cortex-a76"
    props: dict[str, str] = field(default_factory=dict)
    procs: set = field(default_factory=set)  # running Popen objects, killed on shutdown
    lock: threading.Lock = field(default_factory=threading.Lock)

    def banner(self) -> bytes:
        keys = ("ro.product.name", "ro.product.model", "ro.product.device")
        props = "".join(f"{k}={self.props[k]};" for k in keys)
        return f"device::{props}features={FEATURES}".encode()

    @property
    def adb_keys(self) -> Path:
        return self.state / "adb_keys"

    # -- paths: everything the host names is resolved *as the device sees it* ----------------
    def resolve(self, device_path: str, follow_last: bool = True) -> Path:
        """Map an absolute device path to a host path inside the root, or raise PermissionError.

        '..' in the request is refused outright.  Symlinks are followed the way the kernel
        would inside the chroot: absolute targets restart from the root and '..' in a target
        stops at the root, so no link can lead outside.  Paths under the per-instance mounts
        (/data, /sdcard, /system, /sys) map into --state-dir, as the namespace does for commands.
        """
        if not device_path.startswith("/") or "\0" in device_path:
            raise PermissionError(f"not an absolute device path: {device_path!r}")
        parts = [p for p in device_path.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise PermissionError(f"'..' is not allowed in device paths: {device_path!r}")
        todo = list(reversed(parts))
        done: list[str] = []
        hops = 0
        while todo:
            comp = todo.pop()
            if comp == "..":  # only from a symlink target: clamp at the root
                if done:
                    done.pop()
                continue
            host = self._host_path(done + [comp])
            if (todo or follow_last) and host.is_symlink():
                hops += 1
                if hops > 40:
                    raise PermissionError(f"too many symlinks: {device_path!r}")
                target = os.readlink(host)
                if target.startswith("/"):
                    done = []
                todo.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
                continue
            done.append(comp)
        return self._host_path(done)

    def _host_path(self, comps: list[str]) -> Path:
        if comps and comps[0] in ("data", "sdcard", "system", "sys"):
            return self.state.joinpath(*comps)
        return self.root.joinpath(*comps)

    # -- commands ----------------------------------------------------------------------------
    def command_argv(self, command: str | None) -> list[str]:
        # No command: a plain sh, interactive only if its stdin is the pty (as adbd's "sh -").
        shell = ["/system/bin/sh", "-c", command] if command else ["/system/bin/sh"]
        return [CHROOT, f"--userspec={SHELL_UID}:{SHELL_GID}", f"--groups={SHELL_GID}",
                str(self.root), *shell]

    def command_env(self, term: str | None) -> dict[str, str]:
        # Pitfall 3 (DEVICES.md): never qemu's default "max" CPU (wrong int8 in XNNPACK, slow).
        return {"PATH": "/system/bin:/usr/bin:/bin", "HOME": "/", "TMPDIR": "/data/local/tmp",
                "ANDROID_ROOT": "/system", "ANDROID_DATA": "/data", "LANG": "C.UTF-8",
                "TERM": term or "dumb", "QEMU_CPU": self.qemu_cpu}

    def spawn(self, command: str | None, *, pty_fd: int | None = None, merge: bool = False,
              term: str | None = None) -> subprocess.Popen:
        if pty_fd is not None:
            stdio = dict(stdin=pty_fd, stdout=pty_fd, stderr=pty_fd)
        else:
            stdio = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT if merge else subprocess.PIPE)
        argv = self.command_argv(command)
        if pty_fd is not None:  # make the pty its controlling terminal (job control, ^C)
            argv = [SETSID, "--ctty", *argv]
        # Either way the command leads a new session and process group: killpg(pid) ends it all.
        proc = subprocess.Popen(argv, env=self.command_env(term), cwd="/",
                                start_new_session=pty_fd is None, **stdio)
        with self.lock:
            self.procs.add(proc)
        return proc

    def reap(self, proc: subprocess.Popen) -> None:
        with self.lock:
            self.procs.discard(proc)

    def kill_all(self) -> None:
        with self.lock:
            procs = list(self.procs)
        for proc in procs:
            with_pg(proc.pid, signal.SIGKILL)


def with_pg(pid: int, sig: int) -> None:
    """Signal a command's whole process group (it was started in a session of its own)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# --- one TCP connection ----------------------------------------------------------------------
class Stream:
    """One adb stream: bytes from the host arrive in a queue; writes wait for the host's OKAY."""

    def __init__(self, conn: "Connection", local_id: int, remote_id: int):
        self.conn, self.local_id, self.remote_id = conn, local_id, remote_id
        self.inbox: queue.Queue[bytes | None] = queue.Queue()
        self.buf = bytearray()
        self.ready = threading.Event()
        self.ready.set()
        self.closed = False
        self.on_close = None  # callback, e.g. kill the command

    # host -> device
    def feed(self, data: bytes) -> None:
        self.inbox.put(data)

    def read_some(self) -> bytes:
        """Next chunk from the host (b'' when the stream is closed).  Acks it: flow control."""
        if self.buf:
            data, self.buf = bytes(self.buf), bytearray()
            return data
        data = self.inbox.get()
        if data is None:
            self.inbox.put(None)
            return b""
        self.conn.send(A_OKAY, self.local_id, self.remote_id)
        return data

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            data = self.inbox.get()
            if data is None:
                self.inbox.put(None)
                raise StreamClosed()
            self.conn.send(A_OKAY, self.local_id, self.remote_id)
            self.buf += data
        out, self.buf = bytes(self.buf[:n]), self.buf[n:]
        return out

    # device -> host
    def write(self, data: bytes) -> None:
        step = self.conn.max_out
        for i in range(0, len(data), step):
            while not self.ready.wait(0.5):
                if self.closed:
                    raise StreamClosed()
            if self.closed:
                raise StreamClosed()
            self.ready.clear()
            self.conn.send(A_WRTE, self.local_id, self.remote_id, data[i:i + step])

    def close(self) -> None:
        """Close from our side (command finished)."""
        if not self.closed:
            self.closed = True
            self.conn.send(A_CLSE, self.local_id, self.remote_id)
            self.conn.forget(self.local_id)
        self.inbox.put(None)

    def remote_closed(self) -> None:
        self.closed = True
        self.ready.set()
        self.inbox.put(None)
        if self.on_close:
            self.on_close()


class Connection:
    def __init__(self, device: Device, sock: socket.socket, peer: str):
        self.device, self.sock, self.peer = device, sock, peer
        self.send_lock = threading.Lock()
        self.streams: dict[int, Stream] = {}
        self.next_id = 1
        self.max_out = MAX_PAYLOAD
        self.online = False
        self.token = b""

    def send(self, cmd: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        header = HEADER.pack(cmd, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF, cmd ^ 0xFFFFFFFF)
        with self.send_lock:
            try:
                self.sock.sendall(header + data)
            except OSError:
                pass  # the reader notices the dead socket and cleans up

    def recv_exact(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = self.sock.recv(n)
            if not chunk:
                raise ConnectionError("peer closed")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def forget(self, local_id: int) -> None:
        self.streams.pop(local_id, None)

    def serve(self) -> None:
        log.info("%s: connected", self.peer)
        try:
            while True:
                cmd, arg0, arg1, length, _crc, magic = HEADER.unpack(self.recv_exact(HEADER.size))
                if magic != cmd ^ 0xFFFFFFFF or length > 16 * 1024 * 1024:
                    raise ConnectionError(f"bad packet header {cmd:#x}/{magic:#x}/{length}")
                data = self.recv_exact(length) if length else b""
                self.dispatch(cmd, arg0, arg1, data)
        except (ConnectionError, OSError) as exc:
            log.info("%s: disconnected (%s)", self.peer, exc)
        finally:
            for s in list(self.streams.values()):
                s.remote_closed()
            self.streams.clear()
            try:
                self.sock.close()
            except OSError:
                pass

    def dispatch(self, cmd: int, arg0: int, arg1: int, data: bytes) -> None:
        log.debug("%s: <- %s %#x %#x %d bytes", self.peer, CMD_NAMES.get(cmd, hex(cmd)),
                  arg0, arg1, len(data))
        if cmd == A_CNXN:
            self.max_out = max(4096, min(arg1, MAX_PAYLOAD))
            self.online = False
            if self.device.offline:
                log.info("%s: --offline: never answering CNXN", self.peer)
            elif self.device.auth == "none":
                self.connected()
            else:
                self.send_token()
        elif cmd == A_AUTH:
            self.on_auth(arg0, data)
        elif not self.online:
            log.info("%s: %s before the connection is authorized: ignored",
                     self.peer, CMD_NAMES.get(cmd, hex(cmd)))
        elif cmd == A_OPEN:
            self.on_open(arg0, data.rstrip(b"\0").decode("utf-8", "replace"))
        elif cmd == A_WRTE:
            s = self.streams.get(arg1)
            if s is None:
                self.send(A_CLSE, 0, arg0)
            else:
                s.feed(data)
        elif cmd == A_OKAY:
            s = self.streams.get(arg1)
            if s is not None:
                s.remote_id = arg0
                s.ready.set()
        elif cmd == A_CLSE:
            s = self.streams.pop(arg1, None)
            if s is not None:
                s.remote_closed()

    # -- authentication ------------------------------------------------------------------------
    def connected(self) -> None:
        self.online = True
        self.send(A_CNXN, A_VERSION, MAX_PAYLOAD, self.device.banner())
        log.info("%s: online", self.peer)

    def send_token(self) -> None:
        self.token = os.urandom(20)
        self.send(A_AUTH, AUTH_TOKEN, 0, self.token)

    def on_auth(self, kind: int, data: bytes) -> None:
        if kind == AUTH_SIGNATURE:
            if self.device.auth == "accept" and any(
                    verify_signature(k, self.token, data) for k in load_keys(self.device.adb_keys)):
                self.connected()
            else:
                self.send_token()  # the host then tries its next key, then sends its public key
        elif kind == AUTH_RSAPUBLICKEY:
            key = data.rstrip(b"\0")
            if self.device.auth == "accept":
                log.info("%s: new adb key accepted (as if the user tapped 'Always allow')", self.peer)
                with open(self.device.adb_keys, "ab") as f:
                    f.write(key + b"\n")
                self.connected()
            else:
                log.info("%s: --auth refuse: leaving the device unauthorized", self.peer)

    # -- services ------------------------------------------------------------------------------
    def on_open(self, remote_id: int, service: str) -> None:
        local_id = self.next_id
        self.next_id += 1
        handler = service_handler(service)
        if handler is None:
            log.info("%s: unsupported service %r", self.peer, service)
            self.send(A_CLSE, 0, remote_id)
            return
        log.info("%s: open %r", self.peer, service)
        stream = Stream(self, local_id, remote_id)
        self.streams[local_id] = stream
        self.send(A_OKAY, local_id, remote_id)
        threading.Thread(target=run_service, args=(handler, self.device, stream, service),
                         daemon=True, name=f"svc-{local_id}").start()


def run_service(handler, device: Device, stream: Stream, service: str) -> None:
    try:
        handler(device, stream, service)
    except StreamClosed:
        pass
    except Exception:  # a stand-in must not die on one bad request
        log.exception("service %r failed", service)
    finally:
        stream.close()


def service_handler(service: str):
    name = service.split(":", 1)[0].split(",", 1)[0]
    return {"shell": shell_service, "exec": exec_service, "sync": sync_service}.get(name)


# --- shell ------------------------------------------------------------------------------------
def shell_service(device: Device, stream: Stream, service: str) -> None:
    head, _, command = service.partition(":")
    args = head.split(",")[1:]
    v2 = "v2" in args
    term = next((a[5:] for a in args if a.startswith("TERM=")), None)
    # Like adbd: no command -> interactive pty, unless the client asked for raw.
    use_pty = "pty" in args or (not command and "raw" not in args)
    if use_pty:
        run_pty(device, stream, command or None, v2, term)
    elif v2:
        run_v2(device, stream, command)
    else:
        run_raw(device, stream, command, merge=True)


def exec_service(device: Device, stream: Stream, service: str) -> None:
    run_raw(device, stream, service.partition(":")[2], merge=True)


def v2_packet(kind: int, data: bytes) -> bytes:
    return struct.pack("<BI", kind, len(data)) + data


def exit_status(proc: subprocess.Popen) -> int:
    rc = proc.wait()
    return 128 - rc if rc < 0 else rc & 0xFF


def run_v2(device: Device, stream: Stream, command: str) -> None:
    try:
        proc = device.spawn(command)
    except OSError as exc:  # report it the way a shell would, rather than a silent exit 0
        stream.write(v2_packet(SH_STDERR, f"standin_adbd: cannot run command: {exc}\n".encode()))
        stream.write(v2_packet(SH_EXIT, bytes([127])))
        return
    stream.on_close = lambda: with_pg(proc.pid, signal.SIGKILL)
    threading.Thread(target=pump_v2_stdin, args=(stream, proc), daemon=True).start()
    try:
        pump_output(stream, {proc.stdout: SH_STDOUT, proc.stderr: SH_STDERR}, v2=True)
        stream.write(v2_packet(SH_EXIT, bytes([exit_status(proc)])))
    finally:
        device.reap(proc)


def pump_v2_stdin(stream: Stream, proc: subprocess.Popen) -> None:
    try:
        while True:
            kind, length = struct.unpack("<BI", stream.read_exact(5))
            data = stream.read_exact(length) if length else b""
            if kind == SH_STDIN:
                proc.stdin.write(data)
                proc.stdin.flush()
            elif kind == SH_CLOSE_STDIN:
                proc.stdin.close()
    except (StreamClosed, OSError, ValueError):
        pass
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass


def run_raw(device: Device, stream: Stream, command: str, merge: bool) -> None:
    proc = device.spawn(command, merge=merge)
    stream.on_close = lambda: with_pg(proc.pid, signal.SIGKILL)
    threading.Thread(target=pump_raw_stdin, args=(stream, proc.stdin), daemon=True).start()
    try:
        pump_output(stream, {proc.stdout: None}, v2=False)
        proc.wait()
    finally:
        device.reap(proc)


def pump_raw_stdin(stream: Stream, sink) -> None:
    try:
        while data := stream.read_some():
            sink.write(data)
            sink.flush()
    except (OSError, ValueError):
        pass
    finally:
        try:
            sink.close()
        except OSError:
            pass


def pump_output(stream: Stream, pipes: dict, v2: bool) -> None:
    sel = selectors.DefaultSelector()
    for pipe, kind in pipes.items():
        sel.register(pipe, selectors.EVENT_READ, kind)
    while sel.get_map():
        for key, _ in sel.select():
            data = os.read(key.fd, 65536)
            if not data:
                sel.unregister(key.fileobj)
                continue
            stream.write(v2_packet(key.data, data) if v2 else data)


def run_pty(device: Device, stream: Stream, command: str | None, v2: bool, term: str | None) -> None:
    master, slave = os.openpty()
    proc = device.spawn(command, pty_fd=slave, term=term or "xterm")
    os.close(slave)
    stream.on_close = lambda: with_pg(proc.pid, signal.SIGKILL)

    def pump_in() -> None:
        try:
            while True:
                if v2:
                    kind, length = struct.unpack("<BI", stream.read_exact(5))
                    data = stream.read_exact(length) if length else b""
                    if kind == SH_STDIN:
                        os.write(master, data)
                    elif kind == SH_CLOSE_STDIN:
                        os.write(master, b"\x04")
                else:
                    data = stream.read_some()
                    if not data:
                        break
                    os.write(master, data)
        except (StreamClosed, OSError):
            pass

    threading.Thread(target=pump_in, daemon=True).start()
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every process holding the pty's other end is gone
                break
            if not data:
                break
            stream.write(v2_packet(SH_STDOUT, data) if v2 else data)
        if v2:
            stream.write(v2_packet(SH_EXIT, bytes([exit_status(proc)])))
    finally:
        os.close(master)
        proc.wait()
        device.reap(proc)


# --- sync (file transfer) ---------------------------------------------------------------------
def sync_service(device: Device, stream: Stream, service: str) -> None:
    while True:
        ident, length = struct.unpack("<4sI", stream.read_exact(8))
        if length > 4096:
            return sync_fail(stream, "path too long")
        path = stream.read_exact(length).decode("utf-8", "surrogateescape")
        if ident == b"QUIT":
            return
        handler = SYNC_HANDLERS.get(ident)
        if handler is None:
            return sync_fail(stream, f"unknown sync request {ident!r}")
        if handler(device, stream, path) is False:
            return  # a failed SEND/RECV ends the sync session, like adbd


def sync_fail(stream: Stream, message: str) -> bool:
    msg = message.encode()
    stream.write(b"FAIL" + struct.pack("<I", len(msg)) + msg)
    return False


def shell_may(st: os.stat_result, bit_user: int) -> bool:
    """Would Android's shell user (uid/gid 2000) have this permission?  (bit_user: S_IRUSR/S_IWUSR)"""
    if st.st_uid == SHELL_UID:
        return bool(st.st_mode & bit_user)
    if st.st_gid == SHELL_GID:
        return bool(st.st_mode & (bit_user >> 3))
    return bool(st.st_mode & (bit_user >> 6))


def sync_stat_v1(device: Device, stream: Stream, path: str) -> None:
    try:
        st = os.lstat(device.resolve(path, follow_last=False))
        fields = (st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime))
    except (OSError, PermissionError):
        fields = (0, 0, 0)
    stream.write(b"STAT" + struct.pack("<3I", *fields))


def stat_v2_fields(st: os.stat_result | None, err: int) -> bytes:
    if st is None:
        return struct.pack("<IQQIIIIQqqq", err, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return struct.pack("<IQQIIIIQqqq", 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink,
                       st.st_uid, st.st_gid, st.st_size, int(st.st_atime), int(st.st_mtime),
                       int(st.st_ctime))


def sync_stat_v2(ident: bytes):
    def handler(device: Device, stream: Stream, path: str) -> None:
        follow = ident == b"STA2"
        try:
            host = device.resolve(path, follow_last=follow)
            st, err = (os.stat(host) if follow else os.lstat(host)), 0
        except PermissionError:
            st, err = None, errno.EACCES
        except OSError as exc:
            st, err = None, exc.errno or errno.EIO
        stream.write(ident + stat_v2_fields(st, err))
    return handler


def sync_list(v2: bool):
    def handler(device: Device, stream: Stream, path: str) -> None:
        out = bytearray()
        try:
            host = device.resolve(path)
            readable = shell_may(os.stat(host), stat.S_IRUSR)
            names = [".", ".."] + sorted(os.listdir(host)) if readable else []
        except (OSError, PermissionError):
            names = []  # like adbd: an unreadable or missing directory is just an empty list
        for name in names:
            try:
                st = os.lstat(host / name)
            except OSError:
                continue
            raw = os.fsencode(name)
            if v2:
                out += b"DNT2" + stat_v2_fields(st, 0) + struct.pack("<I", len(raw)) + raw
            else:
                out += b"DENT" + struct.pack("<4I", st.st_mode, st.st_size & 0xFFFFFFFF,
                                             int(st.st_mtime), len(raw)) + raw
        out += b"DONE" + bytes(struct.calcsize("<IQQIIIIQqqqI") if v2 else 16)
        stream.write(bytes(out))
    return handler


def sync_send(device: Device, stream: Stream, spec: str) -> bool | None:
    path, _, mode_text = spec.rpartition(",")
    try:
        mode = int(mode_text)
    except ValueError:
        path, mode = spec, 0o100644
    try:
        # adbd treats anything but a symlink as a regular file (adbutils sends a bare 0o755).
        if stat.S_ISLNK(mode):
            raise PermissionError("the stand-in does not accept pushed symlinks")
        host = device.resolve(path)
        parent = host.parent
        make_dirs(device, parent)
        if not shell_may(os.stat(parent), stat.S_IWUSR):
            raise PermissionError(f"couldn't create file: Permission denied ({path})")
        tmp = parent / f".{host.name}.standin-push"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    except (OSError, PermissionError) as exc:
        sync_fail(stream, str(exc))  # like adbd: FAIL first, then swallow the DATA until DONE
        drain_send(stream)
        return False
    with os.fdopen(fd, "wb") as f:
        while True:
            ident, length = struct.unpack("<4sI", stream.read_exact(8))
            if ident == b"DATA":
                if length > SYNC_DATA_MAX:
                    os.unlink(tmp)
                    return sync_fail(stream, "oversize data message")
                f.write(stream.read_exact(length))
            elif ident == b"DONE":
                mtime = length
                break
            else:
                os.unlink(tmp)
                return sync_fail(stream, "invalid data message")
    os.chown(tmp, SHELL_UID, SHELL_GID)
    os.chmod(tmp, stat.S_IMODE(mode))
    os.utime(tmp, (mtime, mtime))
    os.replace(tmp, host)  # never writes through a symlink planted at the destination
    stream.write(b"OKAY" + bytes(4))
    return None


def drain_send(stream: Stream) -> None:
    """Like adbd: after refusing a SEND, swallow its DATA until DONE so the host sees FAIL."""
    while True:
        ident, length = struct.unpack("<4sI", stream.read_exact(8))
        if ident != b"DATA":
            return
        stream.read_exact(min(length, SYNC_DATA_MAX))


def make_dirs(device: Device, host_dir: Path) -> None:
    missing = []
    d = host_dir
    while not d.exists():
        missing.append(d)
        d = d.parent
    for d in reversed(missing):
        if not shell_may(os.stat(d.parent), stat.S_IWUSR):
            raise PermissionError(f"secure_mkdirs() failed: Permission denied ({d.name})")
        os.mkdir(d, 0o775)
        os.chown(d, SHELL_UID, SHELL_GID)


def sync_recv(device: Device, stream: Stream, path: str) -> bool | None:
    try:
        host = device.resolve(path)
        st = os.stat(host)
        if not stat.S_ISREG(st.st_mode) or not shell_may(st, stat.S_IRUSR):
            raise PermissionError(f"open failed: Permission denied ({path})")
        f = open(host, "rb")
    except FileNotFoundError:
        return sync_fail(stream, "No such file or directory")
    except (OSError, PermissionError) as exc:
        return sync_fail(stream, str(exc))
    with f:
        while chunk := f.read(SYNC_DATA_MAX):
            stream.write(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
    stream.write(b"DONE" + bytes(4))
    return None


SYNC_HANDLERS = {
    b"STAT": sync_stat_v1, b"STA2": sync_stat_v2(b"STA2"), b"LST2": sync_stat_v2(b"LST2"),
    b"LIST": sync_list(False), b"LIS2": sync_list(True), b"SEND": sync_send, b"RECV": sync_recv,
}


# --- adb RSA keys (Android's RSAPublicKey struct, base64) -------------------------------------
def load_keys(path: Path) -> list[tuple[int, int]]:
    keys = []
    if path.exists():
        for line in path.read_bytes().splitlines():
            try:
                keys.append(parse_android_pubkey(line.split()[0]))
            except (ValueError, IndexError, struct.error):
                continue
    return keys


def parse_android_pubkey(b64: bytes) -> tuple[int, int]:
    raw = base64.b64decode(b64)
    words = struct.unpack_from("<I", raw, 0)[0]
    n = int.from_bytes(raw[8:8 + 4 * words], "little")
    (e,) = struct.unpack_from("<I", raw, 8 + 8 * words)
    return n, e


def verify_signature(key: tuple[int, int], token: bytes, signature: bytes) -> bool:
    n, e = key
    k = (n.bit_length() + 7) // 8
    if len(signature) != k or not token:
        return False
    em = pow(int.from_bytes(signature, "big"), e, n).to_bytes(k, "big")
    t = SHA1_DIGEST_INFO + token
    return em == b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t


# --- the device's synthetic view --------------------------------------------------------------
LITTLE_KHZ, BIG_KHZ = 1_800_000, 2_800_000


def default_props(serial: str) -> dict[str, str]:
    return {
        "ro.product.cpu.abi": "arm64-v8a",
        "ro.product.cpu.abilist": "arm64-v8a,armeabi-v7a,armeabi",
        "ro.product.cpu.abilist64": "arm64-v8a",
        "ro.product.cpu.abilist32": "armeabi-v7a,armeabi",
        "ro.product.model": "edgekit_adb_standin",
        "ro.product.name": "edgekit_standin",
        "ro.product.device": "standin_arm64",
        "ro.product.brand": "edgekit",
        "ro.product.manufacturer": "edgekit-standin",
        "ro.hardware": "standin",
        "ro.board.platform": "standin",
        "ro.build.version.sdk": "34",
        "ro.build.version.release": "14",
        "ro.build.type": "userdebug",
        "ro.build.fingerprint": "edgekit/edgekit_standin/standin_arm64:14/STANDIN/1:userdebug/test-keys",
        "ro.serialno": serial,
        "ro.debuggable": "1",
        "ro.edgekit.standin": "1",
        "ro.edgekit.standin.note": "stand-in for an Android device: arm64 Debian under qemu-user",
    }


GETPROP = r"""#!/bin/sh
# edgekit adb STAND-IN's getprop (not Android's): reads the property file written at start-up.
f=/system/etc/edgekit-standin.prop
if [ $# -eq 0 ]; then
    awk -F= '{ k = $1; sub(/^[^=]*=/, ""); printf "[%s]: [%s]\n", k, $0 }' "$f"; exit 0
fi
v=$(awk -F= -v k="$1" '$1 == k { sub(/^[^=]*=/, ""); print; exit }' "$f")
[ -z "$v" ] && [ $# -ge 2 ] && v=$2
printf '%s\n' "$v"
"""

TASKSET = r"""#!/bin/sh
# edgekit adb STAND-IN's taskset shim (not toybox's).  The synthetic topology claims 8 cores
# (0-3 little, 4-7 big) but qemu-user code runs on the host's real CPUs, where a mask for
# cores 4-7 fails with EINVAL.  So `taskset MASK CMD...` pins CMD to MASK & (host CPUs), or to
# all host CPUs if that is empty.  Any other form goes to the real taskset unchanged.
case "${1:-}" in -*|"") exec /usr/bin/taskset "$@" ;; esac
want=$((0x${1#0x})); shift
have=$(awk '/^Cpus_allowed:/ { gsub(",", "", $2); print $2 }' /proc/self/status)
have=$((0x$have))
use=$((want & have)); [ "$use" -eq 0 ] && use=$have
exec /usr/bin/taskset "$(printf '%x' "$use")" "$@"
"""


def cpuinfo_text() -> str:
    blocks = []
    for cpu in range(8):
        big = cpu >= 4
        blocks.append(
            f"processor\t: {cpu}\nBogoMIPS\t: 38.40\n"
            "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
            "asimdrdm lrcpc dcpop asimddp\n"
            "CPU implementer\t: 0x41\nCPU architecture: 8\n"
            f"CPU variant\t: {'0x1' if big else '0x2'}\n"
            f"CPU part\t: {'0xd0b' if big else '0xd05'}\nCPU revision\t: 0\n")
    return "\n".join(blocks) + "\nHardware\t: edgekit adb stand-in (synthetic cpuinfo)\n"


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def build_device_view(dev: Device) -> None:
    """Write this instance's synthetic /system, /sys, /proc/cpuinfo and empty /data, /sdcard."""
    s = dev.state
    write_file(s / "system/etc/edgekit-standin.prop",
               "".join(f"{k}={v}\n" for k, v in dev.props.items()))
    write_file(s / "system/bin/getprop", GETPROP, 0o755)
    write_file(s / "system/bin/taskset", TASKSET, 0o755)
    sh = s / "system/bin/sh"
    if not sh.is_symlink():
        sh.symlink_to("/bin/sh")
    write_file(s / "system/build.prop", "".join(f"{k}={v}\n" for k, v in dev.props.items()))
    cpu = s / "sys/devices/system/cpu"
    write_file(s / "sys/SYNTHETIC_README",
               "Synthetic sysfs written by the edgekit adb stand-in (4 little + 4 big cores).\n"
               "It describes no real hardware; the code runs under qemu-user on the host.\n")
    for name in ("possible", "present", "online"):
        write_file(cpu / name, "0-7\n")
    write_file(cpu / "kernel_max", "7\n")
    for n in range(8):
        big = n >= 4
        khz = BIG_KHZ if big else LITTLE_KHZ
        siblings = "4-7" if big else "0-3"
        d = cpu / f"cpu{n}"
        write_file(d / "online", "1\n")
        write_file(d / "cpu_capacity", "1024\n" if big else "446\n")
        write_file(d / "cpufreq/cpuinfo_max_freq", f"{khz}\n")
        write_file(d / "cpufreq/cpuinfo_min_freq", "300000\n")
        write_file(d / "cpufreq/scaling_max_freq", f"{khz}\n")
        write_file(d / "cpufreq/scaling_cur_freq", f"{khz}\n")
        write_file(d / "cpufreq/related_cpus", siblings.replace("-", " ") + "\n")
        write_file(d / "topology/physical_package_id", "0\n")
        write_file(d / "topology/cluster_id", f"{int(big)}\n")
        write_file(d / "topology/core_id", f"{n % 4}\n")
        write_file(d / "topology/core_siblings_list", f"{siblings}\n")
        write_file(d / "topology/thread_siblings_list", f"{n}\n")
    write_file(s / "cpuinfo", cpuinfo_text())
    for d, mode in (("data", 0o771), ("data/local", 0o751), ("data/local/tmp", 0o771),
                    ("sdcard", 0o770)):
        p = s / d
        p.mkdir(parents=True, exist_ok=True)
        p.chmod(mode)
        os.chown(p, SHELL_UID if d in ("data/local/tmp", "sdcard") else 0, SHELL_GID)
    if not dev.adb_keys.exists():
        dev.adb_keys.touch(0o600)


def run(argv: list[str]) -> None:
    subprocess.run(argv, check=True)


def enter_private_namespace(dev: Device) -> None:
    """Give this process (and every command it runs) its own view of the root.

    unshare(CLONE_NEWNS) must happen while the process is single-threaded.  Marking every
    mount private first means nothing we mount here appears on the host or in the emulated Pi.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed")
    run(["mount", "--make-rprivate", "/"])
    root = dev.root
    for sub in ("proc", "sys", "data", "system", "sdcard", "dev/pts"):
        target = root / sub
        # Pitfall 1 (DEVICES.md): never mount onto a path that resolves outside the root.
        if target.is_symlink() or not str(target.resolve()).startswith(str(root.resolve()) + "/"):
            raise SystemExit(f"{target} resolves outside the root; refusing to mount")
        target.mkdir(exist_ok=True)
    run(["mount", "-t", "proc", "proc", str(root / "proc")])
    # Pitfall 2: onnxruntime's cpuinfo parser must see an ARM /proc/cpuinfo, not the host's.
    run(["mount", "--bind", str(dev.state / "cpuinfo"), str(root / "proc/cpuinfo")])
    # The host's ptys, so a command on a pty can find its /dev/pts/N (tty, ttyname) in the root.
    run(["mount", "--bind", "/dev/pts", str(root / "dev/pts")])
    for sub, ro in (("sys", True), ("system", True), ("data", False), ("sdcard", False)):
        run(["mount", "--bind", str(dev.state / sub), str(root / sub)])
        if ro:
            run(["mount", "-o", "remount,bind,ro", str(root / sub)])


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
        conn = Connection(dev, client, f"{addr[0]}:{addr[1]}")
        threading.Thread(target=conn.serve, daemon=True, name=f"conn-{addr[1]}").start()


if __name__ == "__main__":
    sys.exit(main())
