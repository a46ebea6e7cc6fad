"""adb's shell services on the stand-in: ``shell,v2:`` (stdout/stderr/exit code), legacy
``shell:``, ``exec:``, with or without a pty."""

from __future__ import annotations

import os
import selectors
import signal
import struct
import subprocess
import threading

from adb_device import Device, with_pg
from adb_wire import Stream, StreamClosed, SH_STDIN, SH_STDOUT, SH_STDERR, SH_EXIT, SH_CLOSE_STDIN


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

