"""Targets: `connect(uri)` -> a device you can describe and benchmark on.

    local                         this machine, through the same path a device takes
    ssh://[user@]host[:port]      any Linux board (Raspberry Pi) via the user's OpenSSH setup
    adb://SERIAL | adb://host:port  Android via the adb client (adb:// alone: the only device)

Each scheme has its grammar in uri.py. Per-device settings ride on the URI's query:
``?python=/home/pi/venv/bin/python`` (the interpreter with numpy + a runtime; default ``python3``,
this interpreter for local; ``~/`` is the device user's home) and
``?tmpdir=DIR`` (where the per-run temp dir is made; default /tmp, /data/local/tmp on Android).

A bench on a target: make a fresh temp dir there (mktemp -d), push, run, pull one JSON, and
remove the temp dir in a finally.  Python-capable devices run edgekit's single-file runner.py
(the same measurement as on the host); Android runs TFLite's benchmark_model pinned to the big
cores (see benchmark_model.py), and runner.py only for validation when the phone has a python.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Optional

from .._registry import Registry
from ..errors import ConfigError, DeviceError
from . import probe
from . import uri as uri_grammar
from .uri import DeviceURI
from .transport import DeviceLost, Transport, check, cleaning_up, pause


class Scheme(NamedTuple):
    parse: Callable[[str, str, dict], DeviceURI]  # (text, authority, settings) -> DeviceURI (uri.py)
    open: Callable[[DeviceURI, "DeviceOptions"], Transport]


SCHEMES: Registry[Scheme] = Registry("device scheme")

# Long commands in a workdir run as `sh -c _TRACK DIR ARGV...`: sh appends its pid to DIR/.pids
# and execs ARGV (same pid), so an interrupted bench stops them (_STOP) before removing DIR; a
# killed ssh/adb client alone would leave the device's process running. Constant scripts: the
# directory and argv arrive as positional parameters, never inside the script text.
_TRACK = 'echo $$ >> "$0/.pids"; exec "$@"'
_STOP = 'if [ -f "$0/.pids" ]; then kill $(cat "$0/.pids") 2>/dev/null; fi; exit 0'


@dataclass(frozen=True)
class DeviceOptions:
    ssh_config: Optional[Path] = None  # --ssh-config / EDGEKIT_SSH_CONFIG; None: ssh's own default
    adb_server_port: Optional[int] = None  # None: the adb client's ANDROID_ADB_SERVER_PORT / 5037
    benchmark_binary: Optional[Path] = None  # --benchmark-binary (Android)
    cooldown_s: float = 0.0  # pause between two runs on the same device

    def __post_init__(self) -> None:
        if self.cooldown_s < 0:
            raise ConfigError(f"--cooldown must be >= 0 seconds, got {self.cooldown_s}")


def parse_uri(text: str) -> DeviceURI:
    """The URI checked whole by its scheme's grammar (uri.py), before anything is contacted."""
    scheme, authority, settings = uri_grammar.split(text)
    if scheme not in SCHEMES:
        raise ConfigError(SCHEMES.unknown_message(scheme) + f". {uri_grammar.USAGE}")
    return SCHEMES.get(scheme).parse(text, authority, settings)


def _ssh(uri: DeviceURI, opts: DeviceOptions) -> Transport:
    from .ssh import SSHTransport

    return SSHTransport(uri.host, uri.user, uri.port, opts.ssh_config).open()


def _adb(uri: DeviceURI, opts: DeviceOptions) -> Transport:
    from .adb import AdbTransport

    serial = uri.serial
    if serial is None:  # adb:// : the one device attached
        ready = {s: st for s, st in AdbTransport("-", opts.adb_server_port).devices().items()}
        if len(ready) != 1:
            raise DeviceError(f"adb:// needs a serial when {len(ready)} devices are attached "
                              f"({', '.join(ready) or 'none'}); use adb://SERIAL")
        serial = next(iter(ready))
    return AdbTransport(serial, opts.adb_server_port).open()


def _local(uri: DeviceURI, opts: DeviceOptions) -> Transport:
    from .local import LocalTransport

    return LocalTransport().open()


SCHEMES.register("local", Scheme(uri_grammar.parse_local, _local))
SCHEMES.register("ssh", Scheme(uri_grammar.parse_ssh, _ssh))
SCHEMES.register("adb", Scheme(uri_grammar.parse_adb, _adb))


def connect(uri: str | DeviceURI, options: Optional[DeviceOptions] = None) -> "Target":
    """Reach the device (fails here, with one line, if it cannot be reached) and wrap it."""
    uri = parse_uri(uri) if isinstance(uri, str) else uri
    options = options or DeviceOptions()
    transport = SCHEMES.get(uri.scheme).open(uri, options)
    return Target(uri, transport, options)


class Target:
    def __init__(self, uri: DeviceURI, transport: Transport, options: DeviceOptions) -> None:
        self.uri, self.transport, self.options = uri, transport, options
        self.name = transport.name
        self._info: Optional[dict] = None
        self._python: Optional[str] = None
        self._runs = 0
        self._workdir: Optional[str] = None

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    @property
    def kind(self) -> str:
        return self.uri.scheme

    # ---- what the device is ----

    def describe(self) -> dict:
        """Architecture, OS, CPU and clusters, governor, temperature, throttling, runtimes (cached)."""
        if self._info is None:
            py = self.python_path()
            r = check(self.transport, ["sh", "-c", probe.PROBE_SCRIPT, "edgekit-probe", py, probe.PYTHON_PROBE],
                      "device probe", timeout=120)
            info = probe.parse_probe(r.stdout, py)
            info.update({"uri": self.uri.text, "transport": self.kind})
            self._info = info
        return self._info

    def python_path(self) -> str:
        """The device's python; a leading ~/ is the device user's home (quoting keeps ~ literal)."""
        if self._python is None:
            py = self.uri.python
            if py.startswith("~/"):
                home = check(self.transport, ["sh", "-c", 'printf %s "$HOME"'], "reading $HOME").stdout.strip()
                py = home.rstrip("/") + py[1:]
            self._python = py
        return self._python

    def cooldown(self, progress: Callable[[str], None]) -> None:
        """--cooldown: pause before every run on this device but the first."""
        if self._runs and self.options.cooldown_s > 0:
            progress(f"{self.name}: cooling down {self.options.cooldown_s:g} s")
            pause(self.options.cooldown_s)
        self._runs += 1

    def state(self) -> dict:
        """Governors, frequencies, temperatures, throttling, load: recorded before and after each run."""
        r = self.transport.run(["sh", "-c", probe.STATE_SCRIPT], timeout=60)
        return probe.parse_state(probe.sections(r.stdout))

    def tmp_base(self) -> str:
        return self.uri.tmpdir or ("/data/local/tmp" if self.kind == "adb" else "/tmp")

    @contextlib.contextmanager
    def workdir(self) -> Iterator[str]:
        """A fresh directory on the device, removed (rm -rf) whatever happens."""
        base = self.tmp_base().rstrip("/") or "/"
        r = check(self.transport, ["mktemp", "-d", f"{base}/edgekit.XXXXXXXX"], f"creating a temp dir in {base}")
        d = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
        if not d.startswith(base) or "/edgekit." not in d:
            raise DeviceError(f"{self.name}: mktemp returned an unexpected path {d!r}")
        self._workdir = d
        try:
            yield d
        except DeviceLost as exc:  # unreachable now: say what may be left rather than wait to remove it
            raise DeviceLost(f"{exc}; its temp dir {d} may be left on the device") from None
        except BaseException:  # an error, Ctrl-C or SIGTERM (transport.cancel_all): stopped, removed
            with cleaning_up():
                with contextlib.suppress(DeviceError):
                    self.transport.run(["sh", "-c", _STOP, d], timeout=30)
                self.transport.remove(d)
            raise
        finally:
            self._workdir = None
        self.transport.remove(d)  # only ever the directory mktemp made

    def run_tracked(self, argv: list[str], timeout: float):
        """transport.run for a long command (a benchmark) inside the current workdir, which an
        interrupt can stop on the device."""
        if self._workdir is None:
            return self.transport.run(argv, timeout=timeout)
        return self.transport.run(["sh", "-c", _TRACK, self._workdir, *argv], timeout=timeout)

    def bench(self, path: Path, cfg, progress: Callable[[str], None] = lambda m: None,
              validation_inputs: Optional[Path] = None, outputs_out: Optional[Path] = None,
              on_result: Callable[[dict], None] = lambda r: None) -> list[dict]:
        """Time ``path`` at each of cfg.threads; results in runner.py's schema + a "device" block,
        each also handed to ``on_result`` as soon as it is measured.

        With ``validation_inputs`` (.npy) the device also runs them through the file (untimed)
        and its float32 outputs land in ``outputs_out``."""
        from .bench_device import bench_on_target

        return bench_on_target(self, Path(path), cfg, progress, validation_inputs, outputs_out, on_result)
