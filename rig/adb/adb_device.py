"""What the adb stand-in pretends to be: paths inside the arm64 root, commands run there as
Android's shell user, and the synthetic device view (props, big.LITTLE sysfs, cpuinfo) in a
private mount namespace."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from adb_wire import FEATURES


SHELL_UID = SHELL_GID = 2000
CLONE_NEWNS = 0x00020000
# The host's chroot, by absolute path: commands get the *device's* PATH, not the host's.
CHROOT = shutil.which("chroot", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/chroot"
SETSID = shutil.which("setsid", path="/usr/bin:/bin") or "/usr/bin/setsid"


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

