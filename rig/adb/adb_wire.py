"""The adb TCP transport, device side: packets, streams with one-packet-in-flight flow
control, CNXN/AUTH, and OPEN handing each stream to a service thread."""

from __future__ import annotations

import logging
import os
import queue
import socket
import struct
import threading

from adb_keys import load_keys, verify_signature

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

CMD_NAMES = {A_SYNC: "SYNC", A_CNXN: "CNXN", A_OPEN: "OPEN", A_OKAY: "OKAY",
             A_CLSE: "CLSE", A_WRTE: "WRTE", A_AUTH: "AUTH"}


class StreamClosed(Exception):
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
    """One TCP connection from an adb client; ``handler_for(service)`` picks a service."""

    def __init__(self, device, sock: socket.socket, peer: str, handler_for):
        self.device, self.sock, self.peer = device, sock, peer
        self.handler_for = handler_for
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
        handler = self.handler_for(service)
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


def run_service(handler, device, stream: Stream, service: str) -> None:
    try:
        handler(device, stream, service)
    except StreamClosed:
        pass
    except Exception:  # a stand-in must not die on one bad request
        log.exception("service %r failed", service)
    finally:
        stream.close()
