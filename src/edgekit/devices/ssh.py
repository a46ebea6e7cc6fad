"""SSH transport: the system OpenSSH client, so the user's ~/.ssh/config applies (Host aliases,
User, Port, IdentityFile, ProxyJump, agent) exactly as it does for `ssh HOST`.

Decisions:
- ``BatchMode=yes``: no password or host-key prompts ever block a benchmark; a key (or agent)
  is required.  Host key checking is never turned off by edgekit (no StrictHostKeyChecking=no):
  an unknown or changed host key is an error telling the user how to verify it.
- One master connection per device (ControlMaster, a process edgekit starts and stops by its
  pid), reused by every command: a connection costs ~0.4 s on a Pi and ~0.8 s on the emulated
  one, and a bench needs about ten commands.  If the master dies, commands fall back to a
  connection of their own.
- Files travel through ``cat`` on the same connection rather than scp: legacy scp lets the
  remote shell expand the remote path (an injection hole) and SFTP-mode scp glob-expands it;
  ``sh -c 'cat > "$1"' sh PATH`` passes the path as data, quoted by ``remote_command``.
- ``ServerAliveInterval``: a device that vanishes without closing TCP is noticed in ~30 s.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

from ..errors import ConfigError, DeviceError
from .transport import DEFAULT_TIMEOUT, Completed, DeviceLost, DeviceUnreachable, remote_command, run_local, tail

CONNECT_TIMEOUT = 20

_HOSTKEY = re.compile(r"Host key verification failed|host key .*is not known|No \S+ host key is known|"
                      r"HOST IDENTIFICATION HAS CHANGED|host key for .* has changed", re.I)
_AUTH = re.compile(r"Permission denied|Too many authentication failures|no mutual signature", re.I)
_UNREACHABLE = re.compile(r"Connection refused|Could not resolve hostname|No route to host|Network is unreachable|"
                          r"Connection timed out|Operation timed out|connect to host .* port", re.I)
_LOST = re.compile(r"closed by remote host|Connection reset|Broken pipe|not responding|Connection closed|"
                   r"client_loop|mux_client|Connection to .* closed", re.I)


class SSHTransport:
    def __init__(self, host: str, user: Optional[str] = None, port: Optional[int] = None,
                 ssh_config: Optional[Path] = None, multiplex: bool = True) -> None:
        if not host or host.startswith("-"):
            raise ConfigError(f"Invalid ssh host '{host}' (use ssh://[user@]host[:port])")
        if ssh_config is not None and not Path(ssh_config).is_file():
            raise ConfigError(f"ssh config file '{ssh_config}' does not exist (from --ssh-config / EDGEKIT_SSH_CONFIG)")
        if shutil.which("ssh") is None:
            raise DeviceError("the OpenSSH client 'ssh' is not installed on this machine (apt install openssh-client)")
        self.host, self.user, self.port, self.ssh_config = host, user, port, ssh_config
        self.name = "ssh://" + (f"{user}@" if user else "") + host + (f":{port}" if port else "")
        self._base = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}",
                      "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3"]
        if ssh_config is not None:
            self._base += ["-F", str(ssh_config)]
        if port:
            self._base += ["-p", str(port)]
        if user:
            self._base += ["-l", user]
        self._multiplex = multiplex
        self._master: Optional[subprocess.Popen] = None
        self._ctl_dir: Optional[str] = None
        self._connected = False

    # ---- connection ----

    def open(self) -> "SSHTransport":
        """Connect (and authenticate) once; raises DeviceUnreachable with the reason."""
        if not self._multiplex:
            r = self._ssh_run(["true"], CONNECT_TIMEOUT + 30)
            if not r.ok:
                raise self._error(r.stderr, "connect", r.returncode)
            self._connected = True
            return self
        self._ctl_dir = tempfile.mkdtemp(prefix="ek-ssh-")  # short: unix socket paths max ~100 chars
        sock = os.path.join(self._ctl_dir, "s")
        err = open(os.path.join(self._ctl_dir, "err"), "w+")
        argv = self._base + ["-M", "-N", "-o", f"ControlPath={sock}", "-o", "ControlPersist=no", "--", self.host]
        self._master = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                        start_new_session=True)  # Ctrl-C must not cut the link clean-up needs
        deadline = time.monotonic() + CONNECT_TIMEOUT + 30
        try:
            while not os.path.exists(sock):  # the socket appears once the login succeeded
                if self._master.poll() is not None:
                    err.seek(0)
                    raise self._error(err.read(), "connect", self._master.returncode)
                if time.monotonic() > deadline:
                    raise DeviceUnreachable(f"{self.name}: no answer within {CONNECT_TIMEOUT + 30} s")
                time.sleep(0.05)
        except BaseException:
            self.close()
            raise
        finally:
            err.close()
        self._connected = True
        return self

    def close(self) -> None:
        if self._master is not None:
            if self._master.poll() is None:
                self._master.terminate()  # our own ssh master, by its pid
                try:
                    self._master.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._master.kill()
                    self._master.wait()
            self._master = None
        if self._ctl_dir:
            shutil.rmtree(self._ctl_dir, ignore_errors=True)
            self._ctl_dir = None

    def _argv(self, remote: str) -> list[str]:
        argv = list(self._base)
        if self._master is not None:
            argv += ["-o", "ControlMaster=no", "-o", f"ControlPath={os.path.join(self._ctl_dir, 's')}"]
        return argv + ["--", self.host, remote]

    def _ssh_run(self, argv: Sequence[str], timeout: float, stdin=subprocess.DEVNULL,
                 stdout=subprocess.PIPE) -> Completed:
        return run_local(self._argv(remote_command(argv)), timeout, stdin=stdin, stdout=stdout,
                         what=f"{self.name}: {argv[0]}")

    def _error(self, stderr: str, what: str, rc: int) -> DeviceError:
        """One line for an ssh failure (exit 255), from OpenSSH's own message."""
        msg = tail(stderr) or ("the connection closed" if self._master_died() else f"ssh exit {rc}, no message")
        where = f"{self.name}" + (f" (ssh config {self.ssh_config})" if self.ssh_config else "")
        if _HOSTKEY.search(stderr):
            return DeviceUnreachable(
                f"{where}: host key not known or changed ({msg}); edgekit keeps host key checking on: "
                f"verify the key by connecting once with `ssh {self.host}`, then retry")
        if _AUTH.search(stderr):
            return DeviceUnreachable(
                f"{where}: authentication refused ({msg}); edgekit uses keys only (BatchMode): "
                f"install yours with `ssh-copy-id {self.host}` or set IdentityFile in your ssh config")
        if self._connected and (_LOST.search(stderr) or self._master_died() or not _UNREACHABLE.search(stderr)):
            # ssh exits 255 for its own failures only; on a session that was up, that is the
            # link going away, whether or not OpenSSH managed to say so (seen in CI: a cut TCP
            # path left only the remote's last stderr line, and the master not yet reaped)
            return DeviceLost(f"{self.name}: connection lost while running {what} ({msg})")
        if _UNREACHABLE.search(stderr):
            return DeviceUnreachable(f"{where}: cannot connect ({msg}); is the device on and sshd running?")
        if _LOST.search(stderr):
            return DeviceLost(f"{self.name}: connection lost while running {what} ({msg})")
        return DeviceError(f"{where}: ssh failed during {what} (exit {rc}): {msg}")

    def _master_died(self) -> bool:
        return self._master is not None and self._master.poll() is not None

    # ---- Transport ----

    def run(self, argv: Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> Completed:
        r = self._ssh_run(argv, timeout)
        if r.returncode == 255:  # ssh's own failure, not the remote command's
            raise self._error(r.stderr, argv[0], 255)
        return Completed(tuple(argv), r.returncode, r.stdout, r.stderr)

    def push(self, local: Path, remote: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        with open(local, "rb") as f:
            r = self._ssh_run(["sh", "-c", 'cat > "$1"', "sh", remote], timeout, stdin=f)
        if r.returncode == 255:
            raise self._error(r.stderr, f"push of {Path(local).name}", 255)
        if not r.ok:
            raise DeviceError(f"{self.name}: cannot write {remote} ({tail(r.stderr) or f'exit {r.returncode}'})")

    def pull(self, remote: str, local: Path, timeout: float = DEFAULT_TIMEOUT) -> None:
        local = Path(local)
        part = local.with_name(local.name + ".part")
        with open(part, "wb") as f:
            r = self._ssh_run(["cat", remote], timeout, stdout=f)
        if not r.ok:
            part.unlink(missing_ok=True)
            if r.returncode == 255:
                raise self._error(r.stderr, f"pull of {remote}", 255)
            raise DeviceError(f"{self.name}: cannot read {remote} ({tail(r.stderr) or f'exit {r.returncode}'})")
        os.replace(part, local)

    def remove(self, remote: str) -> None:
        try:
            self.run(["rm", "-rf", "--", remote], timeout=60)
        except DeviceError:
            pass
