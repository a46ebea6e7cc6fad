"""The device test rig itself (rig/up.sh): an emulated Raspberry Pi over real SSH and an adb
device STAND-IN (not a phone) reached by Debian's real adb client.

Rig tests read the env file written by rig/up.sh.  Without it they skip locally, but FAIL when
the CI variable is set: on CI a missing rig is a broken pipeline, not an optional extra.
The path-confinement tests at the bottom need no rig.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RIG_DIR = Path(os.environ.get("EDGEKIT_RIG_DIR", REPO / ".rig"))
ENV_FILE = RIG_DIR / "env"


def read_rig_env() -> dict[str, str]:
    env = {}
    for line in ENV_FILE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


@pytest.fixture(scope="module")
def rig() -> dict[str, str]:
    if not ENV_FILE.exists():
        msg = f"device rig is not up ({ENV_FILE} missing): run `sudo rig/up.sh`"
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(msg + " -- on CI the rig is required", pytrace=False)
        pytest.skip(msg)
    return read_rig_env()


def run(argv: list[str], timeout: float = 120, env: dict | None = None, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=env, **kw)


def ssh(rig: dict, *remote: str, timeout: float = 120):
    # ssh always hands the command to the remote shell: quote each word for it.
    return run(["ssh", "-F", rig["PI_SSH_CONFIG"], rig["PI_HOST_ALIAS"], shlex.join(remote)],
               timeout=timeout)


def adb_env(rig: dict) -> dict:
    return {**os.environ, "ANDROID_ADB_SERVER_PORT": rig["ADB_SERVER_PORT"]}


def adb(rig: dict, *args: str, serial: str | None = None, timeout: float = 120):
    return run(["adb", "-s", serial or rig["ADB_SERIAL"], *args], timeout=timeout, env=adb_env(rig))


# --- emulated Raspberry Pi -------------------------------------------------------------------
@pytest.mark.rig
def test_pi_ssh_runs_aarch64(rig):
    r = ssh(rig, "uname", "-m")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "aarch64"


@pytest.mark.rig
def test_pi_venv_imports_runtimes(rig):
    r = ssh(rig, "python", "-c",
            "import numpy, onnxruntime, ai_edge_litert, platform; print(platform.machine())")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "aarch64"


@pytest.mark.rig
def test_pi_remote_exit_code_and_stderr(rig):
    r = ssh(rig, "sh", "-c", "echo oops >&2; exit 7")
    assert r.returncode == 7
    assert "oops" in r.stderr


# --- adb device stand-in ---------------------------------------------------------------------
@pytest.mark.rig
def test_adb_lists_standin_as_device(rig):
    r = run(["adb", "devices"], env=adb_env(rig))
    assert f"{rig['ADB_SERIAL']}\tdevice" in r.stdout, r.stdout


@pytest.mark.rig
def test_adb_shell_runs_aarch64(rig):
    r = adb(rig, "shell", "uname", "-m")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "aarch64"


@pytest.mark.rig
def test_adb_getprop_and_exit_code(rig):
    assert adb(rig, "shell", "getprop", "ro.product.cpu.abi").stdout.strip() == "arm64-v8a"
    assert adb(rig, "shell", "getprop", "ro.edgekit.standin").stdout.strip() == "1"
    r = adb(rig, "shell", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout.strip(), r.stderr.strip()) == (3, "out", "err")


@pytest.mark.rig
def test_adb_synthetic_big_little_topology(rig):
    r = adb(rig, "shell", "cat /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq")
    freqs = [int(x) for x in r.stdout.split()]
    assert freqs == [1_800_000] * 4 + [2_800_000] * 4


@pytest.mark.rig
def test_adb_push_pull_roundtrip(rig, tmp_path):
    src = tmp_path / "blob.bin"
    src.write_bytes(os.urandom(300_000))  # several sync DATA chunks and adb packets
    remote = "/data/local/tmp/edgekit-test/blob.bin"
    assert adb(rig, "push", str(src), remote).returncode == 0
    r = adb(rig, "shell", "sha256sum", remote)
    assert r.stdout.split()[0] == hashlib.sha256(src.read_bytes()).hexdigest()
    back = tmp_path / "back.bin"
    assert adb(rig, "pull", remote, str(back)).returncode == 0
    assert back.read_bytes() == src.read_bytes()
    assert adb(rig, "shell", "rm", "-r", "/data/local/tmp/edgekit-test").returncode == 0


@pytest.mark.rig
def test_adb_push_outside_writable_dirs_is_refused(rig, tmp_path):
    src = tmp_path / "x"
    src.write_text("x")
    r = adb(rig, "push", str(src), "/system/bin/x")
    assert r.returncode != 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def throwaway_device(rig, tmp_path):
    """A second stand-in (own port, own state) for tests that break or kill a device."""
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
        proc.terminate()  # by the pid we started
        proc.wait(timeout=10)
    for serial in serials:
        run(["adb", "disconnect", serial], env=adb_env(rig))


@pytest.mark.rig
def test_adb_unauthorized_device(rig, throwaway_device):
    serial, _ = throwaway_device("--auth", "refuse")
    run(["adb", "connect", serial], env=adb_env(rig))
    state = ""
    for _ in range(20):
        state = run(["adb", "devices"], env=adb_env(rig)).stdout
        if f"{serial}\tunauthorized" in state:
            break
        time.sleep(0.25)
    assert f"{serial}\tunauthorized" in state
    r = adb(rig, "shell", "true", serial=serial)
    assert r.returncode != 0 and "unauthorized" in (r.stderr + r.stdout)


@pytest.mark.rig
def test_adb_kill_file_drops_device(rig, throwaway_device, tmp_path):
    kill = tmp_path / "KILL"
    serial, proc = throwaway_device("--auth", "none", "--kill-file", str(kill))
    run(["adb", "connect", serial], env=adb_env(rig))
    assert adb(rig, "shell", "echo", "hi", serial=serial).stdout.strip() == "hi"
    kill.touch()
    proc.wait(timeout=10)
    r = adb(rig, "shell", "echo", "hi", serial=serial, timeout=60)
    assert r.returncode != 0


@pytest.mark.rig
@pytest.mark.slow
def test_benchmark_model_standin_output_format(rig, tmp_path):
    tf = pytest.importorskip("tensorflow")
    model = tf.keras.Sequential([tf.keras.Input((8,)), tf.keras.layers.Dense(4)])
    tflite = tmp_path / "tiny.tflite"
    tflite.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    assert adb(rig, "push", rig["BENCHMARK_MODEL_STANDIN"],
               "/data/local/tmp/benchmark_model").returncode == 0
    assert adb(rig, "push", str(tflite), "/data/local/tmp/tiny.tflite").returncode == 0
    r = adb(rig, "shell", "taskset", "f0", "/data/local/tmp/benchmark_model",
            "--graph=/data/local/tmp/tiny.tflite", "--num_threads=1", "--warmup_runs=1",
            "--num_runs=3", "--use_xnnpack=true", "--report_peak_memory_footprint=true",
            "--min_secs=0", "--warmup_min_secs=0", timeout=300)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "INFO: count=3 " in out
    assert "INFO: Inference timings in us: Init: " in out
    assert "Memory footprint delta from the start of the tool (MB): init=" in out
    assert "Overall peak memory footprint (MB) via periodic monitoring: " in out
    assert "STAND-IN" in out


# --- no rig needed: the stand-in never lets a device path out of its root ---------------------
def _load_standin():
    spec = importlib.util.spec_from_file_location("standin_adbd", REPO / "rig/adb/standin_adbd.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("standin_adbd", mod)  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_standin_path_confinement(tmp_path):
    mod = _load_standin()
    root, state = tmp_path / "root", tmp_path / "state"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("device\n")
    (state / "data/local/tmp").mkdir(parents=True)
    (state / "data/local/tmp/abs").symlink_to("/etc")  # absolute link: re-rooted, like chroot
    (state / "data/local/tmp/rel").symlink_to("../../../../../../..")  # clamps at the root
    dev = mod.Device(root=root, state=state)
    assert dev.resolve("/etc/passwd") == root / "etc/passwd"
    assert dev.resolve("/data/local/tmp/x") == state / "data/local/tmp/x"
    assert dev.resolve("/data/local/tmp/abs/passwd") == root / "etc/passwd"
    assert dev.resolve("/data/local/tmp/rel/etc/passwd") == root / "etc/passwd"
    assert dev.resolve("/data/local/tmp/abs", follow_last=False) == state / "data/local/tmp/abs"
    for bad in ("/data/local/tmp/../../../etc/passwd", "relative/path", "/a\0b"):
        with pytest.raises(PermissionError):
            dev.resolve(bad)


def test_standin_rsa_signature_check():
    mod = _load_standin()
    # Textbook-sized RSA key is enough to check the PKCS#1 v1.5 / SHA-1 DigestInfo framing.
    p, q, e = 2**521 - 1, 2**607 - 1, 65537  # Mersenne primes; n has 1128 bits
    n = p * q
    d = pow(e, -1, (p - 1) * (q - 1))
    token = os.urandom(20)
    k = (n.bit_length() + 7) // 8
    t = mod.SHA1_DIGEST_INFO + token
    em = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    sig = pow(int.from_bytes(em, "big"), d, n).to_bytes(k, "big")
    assert mod.verify_signature((n, e), token, sig)
    assert not mod.verify_signature((n, e), os.urandom(20), sig)

