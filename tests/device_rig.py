"""Shared by the device tests: the rig's env file (rig/up.sh), clients, throwaway adb stand-ins.

Like tests/test_rig.py: without the rig these tests skip locally and FAIL when CI is set.
Import the fixtures into a test module to use them (``from device_rig import rig, ...``).
"""
from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RIG_DIR = Path(os.environ.get("EDGEKIT_RIG_DIR", REPO / ".rig"))
ENV_FILE = RIG_DIR / "env"
SHORT = ["--min-runs", "3", "--min-seconds", "0", "--warmup-seconds", "0"]


def read_rig_env() -> dict[str, str]:
    env = {}
    for line in ENV_FILE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


@pytest.fixture(scope="session")
def rig() -> dict[str, str]:
    if not ENV_FILE.exists():
        msg = f"device rig is not up ({ENV_FILE} missing): run `sudo rig/up.sh`"
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(msg + " -- on CI the rig is required", pytrace=False)
        pytest.skip(msg)
    return read_rig_env()


def rig_flags(rig: dict) -> list[str]:
    return ["--ssh-config", rig["PI_SSH_CONFIG"], "--adb-server-port", rig["ADB_SERVER_PORT"]]


def pi_uri(rig: dict, **query: str) -> str:
    q = urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    return f"ssh://{rig['PI_HOST_ALIAS']}" + (f"?{q}" if q else "")


def run(argv: list[str], timeout: float = 120, env: dict | None = None):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, env=env)


def ssh(rig: dict, *remote: str, timeout: float = 120):
    return run(["ssh", "-F", rig["PI_SSH_CONFIG"], rig["PI_HOST_ALIAS"], shlex.join(remote)], timeout=timeout)


def adb_env(rig: dict) -> dict:
    return {**os.environ, "ANDROID_ADB_SERVER_PORT": rig["ADB_SERVER_PORT"]}


def adb(rig: dict, *args: str, serial: str | None = None, timeout: float = 120):
    return run(["adb", "-s", serial or rig["ADB_SERIAL"], *args], timeout=timeout, env=adb_env(rig))


def adb_shell(rig: dict, *argv: str, serial: str | None = None):
    return adb(rig, "shell", shlex.join(argv), serial=serial)


@pytest.fixture
def throwaway_device(rig, tmp_path):
    """A second adb stand-in (own port and state) for tests that break or kill a device."""
    procs, serials = [], []

    def start(*extra: str) -> tuple[str, subprocess.Popen]:
        port_file = tmp_path / f"port{len(procs)}"
        proc = subprocess.Popen(
            [sys.executable, rig["ADB_STANDIN"], "--root", rig["PI_ROOT"],
             "--state-dir", str(tmp_path / f"dev{len(procs)}"), "--port", "0",
             "--port-file", str(port_file), *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)
        for _ in range(100):
            if port_file.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert port_file.exists(), proc.stderr.read() if proc.poll() is not None else "no port"
        serials.append(f"127.0.0.1:{port_file.read_text().strip()}")
        return serials[-1], proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()  # by the pid we started
        proc.wait(timeout=10)
    for serial in serials:
        run(["adb", "disconnect", serial], env=adb_env(rig))


class TcpProxy:
    """127.0.0.1:port -> target port; ``cut()`` drops every connection at once, like a device
    falling off the network (the emulated Pi's sshd, shared with others, keeps running)."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.socks: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        self.closed = True
        self.server.close()
        with self.lock:
            for s in self.socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass


def ssh_config_for(rig: dict, tmp_path: Path, alias: str, port: int, key: str | None = None,
                   known_hosts: str | None = None) -> Path:
    """A private ssh config for the emulated Pi at another port / key / known_hosts."""
    kh = Path(known_hosts) if known_hosts else tmp_path / f"{alias}_known_hosts"
    if known_hosts is None:  # the rig's host key, re-labelled for this port
        line = Path(rig["PI_SSH_CONFIG"]).with_name("known_hosts").read_text().split(None, 1)[1]
        kh.write_text(f"[127.0.0.1]:{port} {line}")
    cfg = tmp_path / f"{alias}_ssh_config"
    cfg.write_text(f"""Host {alias}
    HostName 127.0.0.1
    Port {port}
    User pi
    IdentityFile "{key or Path(rig['PI_SSH_CONFIG']).with_name('id_ed25519')}"
    IdentitiesOnly yes
    UserKnownHostsFile "{kh}"
    GlobalKnownHostsFile /dev/null
    ConnectTimeout 10
""")
    return cfg
