"""adb's ``sync:`` service on the stand-in: STAT/STA2/LST2, LIST/LIS2, SEND, RECV, QUIT."""

from __future__ import annotations

import errno
import os
import stat
import struct
from pathlib import Path

from adb_device import SHELL_GID, SHELL_UID, Device
from adb_wire import SYNC_DATA_MAX, Stream


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

