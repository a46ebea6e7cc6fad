"""Transport: run an argv on a device, copy files to and from it, remove what was copied.

Every transport takes argv lists, never shell strings.  ssh and adb both hand the remote side
ONE command string that its shell parses, so those two turn argv into a string with
``remote_command`` -- the only place edgekit quotes anything for a device shell.

Errors are ``DeviceError`` with one line: the device, what was being done, and the tail of
stderr.  ``DeviceLost`` means the device went away (connection dropped, adb device gone);
the caller keeps what it already measured.
"""
from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Protocol, Sequence

from ..errors import DeviceError

DEFAULT_TIMEOUT = 120.0


class DeviceLost(DeviceError):
    """The device stopped answering in the middle of something (unplugged, network gone, killed)."""


class DeviceUnreachable(DeviceError):
    """The device could not be reached at all (refused, unknown host key, auth refused, not listed)."""


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
    """subprocess.run on the host with a timeout that becomes a DeviceLost naming the command."""
    try:
        p = subprocess.run(list(argv), stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=env,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DeviceLost(f"{what or argv[0]} timed out after {timeout:.0f} s ({short_argv(argv)})") from None
    except FileNotFoundError:
        raise DeviceError(f"'{argv[0]}' is not installed on this machine (needed for {what or 'devices'})") from None
    out = p.stdout.decode(errors="replace") if isinstance(p.stdout, bytes) else ""
    return Completed(tuple(argv), p.returncode, out, p.stderr.decode(errors="replace"))
