"""Transport: run an argv on a device, copy files to and from it, remove what was copied.

Every transport takes argv lists, never shell strings.  ssh and adb both hand the remote side
ONE command string that its shell parses, so those two turn argv into a string with
``remote_command`` -- the only place edgekit quotes anything for a device shell.

Errors are ``DeviceError`` with one line: the device, what was being done, and the tail of
stderr.  ``DeviceLost`` means the device went away (connection dropped, adb device gone);
the caller keeps what it already measured.

Interrupts (Ctrl-C, SIGTERM): every ssh/adb/local command runs in a session of its own (so the
terminal's SIGINT reaches edgekit alone) and is registered while it runs; ``cancel_all`` kills
them, after which only clean-up commands (inside ``cleaning_up()``) may start, so each device's
temp folder is still removed before edgekit exits.
"""
from __future__ import annotations

import contextlib
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Protocol, Sequence

from ..errors import DeviceError

DEFAULT_TIMEOUT = 120.0


class DeviceLost(DeviceError):
    """The device stopped answering in the middle of something (unplugged, network gone, killed)."""


class DeviceUnreachable(DeviceError):
    """The device could not be reached at all (refused, unknown host key, auth refused, not listed)."""


class Interrupted(DeviceError):
    """The user interrupted edgekit; the command running on the device was stopped."""


_live: set = set()  # the Popen of every device command running now
_live_lock = threading.Lock()
_cancelled = threading.Event()
_cleanup = threading.local()


def cancel_all() -> None:
    """Stop every running device command (our own ssh/adb/runner clients, by pid)."""
    _cancelled.set()
    with _live_lock:
        for p in list(_live):
            if p.poll() is None:
                p.kill()


def allow_commands() -> None:
    """A new bench may start commands again (after an interrupted one, in the same process)."""
    _cancelled.clear()


@contextlib.contextmanager
def cleaning_up():
    """Commands started in this block run even after cancel_all (removing a temp folder)."""
    _cleanup.active = True
    try:
        yield
    finally:
        _cleanup.active = False


def pause(seconds: float) -> None:
    """time.sleep that an interrupt (cancel_all) cuts short."""
    _cancelled.wait(seconds)


def _refused_now() -> bool:
    return _cancelled.is_set() and not getattr(_cleanup, "active", False)


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Transport(Protocol):
    name: str  # the device URI, for messages

    def run(self, argv: Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> Completed:
        """Run argv on the device; never raises for a non-zero exit (see ``check``)."""

    def push(self, local: Path, remote: str, timeout: float = DEFAULT_TIMEOUT) -> None: ...

    def pull(self, remote: str, local: Path, timeout: float = DEFAULT_TIMEOUT) -> None: ...

    def remove(self, remote: str) -> None:
        """rm -rf on the device; best effort, never raises (it runs in finally blocks)."""

    def close(self) -> None: ...


def remote_command(argv: Sequence[str]) -> str:
    """The one string a remote POSIX shell (OpenSSH's, Android's mksh) parses back into argv."""
    if not argv:
        raise ValueError("empty argv")
    return " ".join(shlex.quote(str(a)) for a in argv)


def tail(text: str, lines: int = 3, chars: int = 300) -> str:
    """The last meaningful stderr lines, joined on one line."""
    kept = [ln.strip() for ln in (text or "").strip().splitlines() if ln.strip()]
    return " | ".join(kept[-lines:])[-chars:]


def short_argv(argv: Sequence[str], chars: int = 120) -> str:
    text = " ".join(shlex.quote(str(a)) for a in argv)
    return text if len(text) <= chars else text[: chars - 3] + "..."


def check(transport: Transport, argv: Sequence[str], what: str, timeout: float = DEFAULT_TIMEOUT) -> Completed:
    """run() and raise DeviceError for a non-zero exit, naming the command and stderr's tail."""
    r = transport.run(argv, timeout)
    if not r.ok:
        raise DeviceError(f"{transport.name}: {what} failed (exit {r.returncode}: {short_argv(argv)}): "
                          f"{tail(r.stderr) or tail(r.stdout) or 'no output'}")
    return r


def run_local(argv: Sequence[str], timeout: float, env: Optional[dict] = None, stdin=subprocess.DEVNULL,
              stdout=subprocess.PIPE, what: str = "") -> Completed:
    """Run argv on the host with a timeout that becomes a DeviceLost naming the command (see the
    module docstring for interrupts)."""
    if _refused_now():
        raise Interrupted(f"{what or argv[0]}: interrupted")
    try:
        p = subprocess.Popen(list(argv), stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=env,
                             start_new_session=True)
    except FileNotFoundError:
        raise DeviceError(f"'{argv[0]}' is not installed on this machine (needed for {what or 'devices'})") from None
    with _live_lock:
        _live.add(p)
    deadline = time.monotonic() + timeout
    try:
        while True:  # in slices: an ssh mux client hands its pipes to the master, so a killed
            try:    # client's pipes stay open while the remote command runs; do not wait for them
                out, err = p.communicate(timeout=max(0.0, min(0.5, deadline - time.monotonic())))
                break
            except subprocess.TimeoutExpired:
                if _refused_now():
                    raise Interrupted(f"{what or argv[0]}: interrupted") from None
                if time.monotonic() >= deadline:
                    raise DeviceLost(f"{what or argv[0]} timed out after {timeout:.0f} s ({short_argv(argv)})") \
                        from None
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
        for pipe in (p.stdout, p.stderr):
            if pipe is not None:
                pipe.close()
        with _live_lock:
            _live.discard(p)
    if _refused_now():
        raise Interrupted(f"{what or argv[0]}: interrupted")
    out = out.decode(errors="replace") if isinstance(out, bytes) else ""
    return Completed(tuple(argv), p.returncode, out, err.decode(errors="replace"))
