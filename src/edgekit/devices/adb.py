"""adb transport: the `adb` client (Debian's, or the one adbutils bundles) driven with argv lists.

- ``adb`` from PATH, or the client named by $EDGEKIT_ADB (e.g. the one adbutils bundles).
- ``-s SERIAL`` on every call; the adb server's port comes from ``--adb-server-port`` or the
  client's own ANDROID_ADB_SERVER_PORT (so a developer's server on 5037 is left alone).
- A ``host:port`` serial is a networked device (Wi-Fi debugging, emulators): ``adb connect``
  first.  ``adb connect`` exits 0 even when it fails, so its text is read instead.
- ``adb shell`` joins its arguments with spaces for the device's shell (mksh): argv goes
  through ``remote_command`` like ssh.  push/pull use the sync protocol: paths are data there.
- Device state comes from ``adb devices``: unauthorized (the "Allow USB debugging?" prompt was
  not accepted), offline, or not listed are one-line errors; a failure in the middle of a run
  is checked against that list to tell a lost device from a failing command.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Optional, Sequence

from ..errors import DeviceError
from .transport import DEFAULT_TIMEOUT, Completed, DeviceLost, DeviceUnreachable, remote_command, run_local, tail

AUTH_WAIT_S = 5.0  # how long an "unauthorized"/"connecting" device may take to become "device"
_ADB_OWN_ERROR = re.compile(r"^(adb: )?error: .*(not found|closed|offline|unauthorized|protocol fault|no devices|"
                            r"connection reset|broken pipe|failed to read|failed to write)", re.I | re.M)


def is_network_serial(serial: str) -> bool:
    host, sep, port = serial.rpartition(":")
    return bool(sep and host and port.isdigit())


def parse_devices(text: str) -> dict[str, str]:
    """`adb devices` -> {serial: state}."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith(("List of devices", "*")):
            out[parts[0]] = parts[1]
    return out


class AdbTransport:
    def __init__(self, serial: str, server_port: Optional[int] = None, adb: Optional[str] = None) -> None:
        adb = adb or os.environ.get("EDGEKIT_ADB") or "adb"  # e.g. the adb binary adbutils bundles
        if shutil.which(adb) is None:
            raise DeviceError(f"the adb client '{adb}' is not installed on this machine "
                              "(apt install adb, or pip install adbutils)")
        self.serial, self.adb = serial, adb
        self.name = f"adb://{serial}"
        self.env = dict(os.environ)
        if server_port:
            self.env["ANDROID_ADB_SERVER_PORT"] = str(server_port)
        self.env.setdefault("ADB_MDNS", "0")  # newer adb servers would open UDP 5353 on all interfaces

    def _adb(self, *args: str, timeout: float = DEFAULT_TIMEOUT, stdout=None, serial: bool = True) -> Completed:
        argv = [self.adb] + (["-s", self.serial] if serial else []) + list(args)
        kw = {"stdout": stdout} if stdout is not None else {}
        return run_local(argv, timeout, env=self.env, what=f"{self.name}: adb {args[0]}", **kw)

    def devices(self) -> dict[str, str]:
        return parse_devices(self._adb("devices", serial=False, timeout=30).stdout)

    def state(self) -> Optional[str]:
        return self.devices().get(self.serial)

    def open(self) -> "AdbTransport":
        connect_msg = ""
        if is_network_serial(self.serial) and self.state() != "device":
            r = self._adb("connect", self.serial, serial=False, timeout=30)
            connect_msg = (r.stdout + r.stderr).strip()
        deadline = time.monotonic() + AUTH_WAIT_S
        state = self.state()
        while state != "device" and time.monotonic() < deadline:
            time.sleep(0.25)
            state = self.state()
        if state == "device":
            return self
        port = self.env.get("ANDROID_ADB_SERVER_PORT", "5037")
        if state == "unauthorized":
            raise DeviceUnreachable(
                f"{self.name}: device is unauthorized: accept the 'Allow USB debugging?' prompt on it "
                "(this machine's adb key is ~/.android/adbkey.pub), then retry")
        if state == "offline":
            raise DeviceUnreachable(f"{self.name}: device is offline; reconnect it (`adb reconnect`) and retry")
        why = f" ({tail(connect_msg, 1)})" if "failed" in connect_msg or "unable" in connect_msg else ""
        raise DeviceUnreachable(
            f"{self.name}: not in `adb devices` of the adb server on port {port}{why}; "
            + ("is the address right and adb over network enabled?" if is_network_serial(self.serial)
               else "is it plugged in with USB debugging on?"))

    def close(self) -> None:
        pass  # the adb server is shared; `adb connect` state is left as the user had it

    def _raise_if_lost(self, r: Completed, what: str) -> None:
        """A failure that adb itself reported (not the device command): is the device still there?"""
        text = r.stderr + r.stdout
        if r.returncode != 0 and (_ADB_OWN_ERROR.search(text) or not text.strip()):
            state = None
            for _ in range(4):  # the adb server may list a vanished device for a moment longer
                try:
                    state = self.state()
                except DeviceError:
                    state = None
                if state != "device":
                    break
                time.sleep(0.5)
            if state != "device":
                raise DeviceLost(f"{self.name}: device lost during {what} "
                                 f"(now {state or 'not listed'}; adb: {tail(text, 1) or f'exit {r.returncode}'})")

    # ---- Transport ----

    def run(self, argv: Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> Completed:
        r = self._adb("shell", remote_command(argv), timeout=timeout)
        self._raise_if_lost(r, argv[0])
        return Completed(tuple(argv), r.returncode, r.stdout, r.stderr)

    def push(self, local: Path, remote: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        r = self._adb("push", str(local), remote, timeout=timeout)
        self._raise_if_lost(r, f"push of {Path(local).name}")
        if not r.ok:
            raise DeviceError(f"{self.name}: cannot push {Path(local).name} to {remote} "
                              f"({tail(r.stderr + r.stdout, 1) or f'exit {r.returncode}'})")

    def pull(self, remote: str, local: Path, timeout: float = DEFAULT_TIMEOUT) -> None:
        r = self._adb("pull", remote, str(local), timeout=timeout)
        self._raise_if_lost(r, f"pull of {remote}")
        if not r.ok:
            raise DeviceError(f"{self.name}: cannot pull {remote} ({tail(r.stderr + r.stdout, 1) or f'exit {r.returncode}'})")

    def remove(self, remote: str) -> None:
        try:
            self.run(["rm", "-rf", remote], timeout=60)  # toybox rm: no "--" needed, paths are absolute
        except DeviceError:
            pass
