"""Device faults, each a one-line error, a non-zero exit, and nothing lost that was measured:
unreachable host, authentication refused, unknown host key, a device dropping mid-run (ssh: the
network path is cut; adb: the stand-in's kill file), an unauthorized adb device, no runtime on
the device, no benchmark_model binary.  (Paths with shell metacharacters: test_devices_ssh/adb.)"""
from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import tiny_models  # noqa: E402
from conftest import REPO, assert_clean_error, run_cli  # noqa: E402
from device_rig import (SHORT, TcpProxy, pi_uri, rig, rig_flags, ssh, ssh_config_for,  # noqa: E402,F401
                        throwaway_device)

pytestmark = pytest.mark.rig


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_models(tmp_path_factory)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def failed(proc, *needles: str) -> str:
    assert proc.stdout == "", proc.stdout
    return assert_clean_error(proc, *needles)


def test_unreachable_host(rig, models, tmp_path):
    cfg = ssh_config_for(rig, tmp_path, "gone-pi", _free_port())  # nothing listens there
    line = failed(run_cli("bench", models["tflite_int8"], "--device", "ssh://gone-pi", "--ssh-config", cfg,
                          "--no-record"), "ssh://gone-pi", "cannot connect", "Connection refused")
    assert "is the device on" in line


def test_authentication_refused(rig, models, tmp_path):
    key = tmp_path / "stranger_key"  # a key the Pi never authorized
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    cfg = ssh_config_for(rig, tmp_path, "pi-stranger", int(rig["PI_PORT"]), key=str(key))
    failed(run_cli("devices", "ssh://pi-stranger", "--ssh-config", cfg),
           "authentication refused", "Permission denied (publickey", "ssh-copy-id")


def test_unknown_host_key_is_refused_not_accepted(rig, models, tmp_path):
    empty = tmp_path / "known_hosts_empty"
    empty.write_text("")
    cfg = ssh_config_for(rig, tmp_path, "pi-newkey", int(rig["PI_PORT"]), known_hosts=str(empty))
    failed(run_cli("bench", models["tflite_int8"], "--device", "ssh://pi-newkey", "--ssh-config", cfg, "--no-record"),
           "host key not known", "Host key verification failed", "keeps host key checking on")
    assert empty.read_text() == ""  # never learned it behind the user's back


def _run_until(argv: list[str], marker: str, env: dict | None = None, timeout: float = 300):
    """Start `edgekit ARGS`, return (process, stderr lines so far) once stderr shows ``marker``."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + full_env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-m", "edgekit.cli.main", *map(str, argv)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
    seen, deadline = [], time.monotonic() + timeout
    for line in proc.stderr:
        seen.append(line)
        if marker in line or time.monotonic() > deadline:
            break
    assert any(marker in ln for ln in seen), "".join(seen)
    return proc, seen


def _finish(proc, seen):
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "".join(seen) + err)


def test_ssh_device_drops_mid_run(rig, models, tmp_path):
    """The network path to the Pi is cut during the second run: the first result is kept and recorded."""
    proxy = TcpProxy(int(rig["PI_PORT"]))
    cfg = ssh_config_for(rig, tmp_path, "flaky-pi", proxy.port)
    remote = f"/tmp/edgekit-test-{uuid.uuid4().hex[:8]}"
    assert ssh(rig, "mkdir", remote).returncode == 0
    db = tmp_path / "r.sqlite"
    try:
        proc, seen = _run_until(["bench", models["tflite_int8"], "--device", f"ssh://flaky-pi?tmpdir={remote}",
                                 "--ssh-config", cfg, "--threads", "1,2", "--min-runs", "3", "--min-seconds", "2",
                                 "--warmup-seconds", "0", "--db", db], "(litert, 2 thread(s))")
        time.sleep(1.5)  # let the second run start on the device
        proxy.cut()
        r = _finish(proc, seen)
    finally:
        proxy.cut()
        ssh(rig, "rm", "-rf", remote)
    line = assert_clean_error(r, "ssh://flaky-pi", "connection lost", "1 result(s) kept (run 1)")
    assert "Traceback" not in r.stderr, line
    assert r.stdout.splitlines()[0].startswith("device") and len(r.stdout.splitlines()) >= 3  # the kept row
    rows = sqlite3.connect(db).execute("SELECT threads, runs FROM benchmarks").fetchall()
    assert rows == [(1, rows[0][1])] and rows[0][1] >= 3


def test_adb_device_drops_mid_run(rig, models, tmp_path, throwaway_device):
    kill = tmp_path / "KILL"
    serial, standin = throwaway_device("--auth", "none", "--kill-file", str(kill))
    db = tmp_path / "r.sqlite"
    proc, seen = _run_until(["bench", models["tflite_int8"], "--device", f"adb://{serial}", *rig_flags(rig),
                             "--benchmark-binary", rig["BENCHMARK_MODEL_STANDIN"], "--threads", "1,2",
                             "--min-runs", "3", "--min-seconds", "2", "--warmup-seconds", "0", "--db", db],
                            "(2 thread(s)) with benchmark_model")
    time.sleep(1.0)
    kill.touch()  # the phone is unplugged
    standin.wait(timeout=20)
    r = _finish(proc, seen)
    assert_clean_error(r, f"adb://{serial}", "device lost", "1 result(s) kept (run 1)")
    rows = sqlite3.connect(db).execute("SELECT threads, mean_ms FROM benchmarks").fetchall()
    assert len(rows) == 1 and rows[0][0] == 1 and rows[0][1] > 0


def test_unauthorized_adb_device(rig, models, throwaway_device):
    serial, _ = throwaway_device("--auth", "refuse")
    failed(run_cli("bench", models["tflite_int8"], "--device", f"adb://{serial}", *rig_flags(rig),
                   "--benchmark-binary", rig["BENCHMARK_MODEL_STANDIN"], "--no-record"),
           f"adb://{serial}", "unauthorized", "Allow USB debugging")


def test_no_runtime_on_the_device_names_what_to_install(rig, models):
    """The Pi's system python3 (outside its venv) has no numpy and no TFLite runtime."""
    line = failed(run_cli("bench", models["tflite_int8"], "--device", pi_uri(rig, python="/usr/bin/python3"),
                          *SHORT, "--no-record", *rig_flags(rig)),
                  "/usr/bin/python3", "cannot run TFLite files", "pip install ai-edge-litert numpy", "?python=")
    assert "Python 3.11" in line
    failed(run_cli("bench", models["onnx"], "--device", pi_uri(rig, python="/opt/nothing/python"), *SHORT,
                   "--no-record", *rig_flags(rig)), "no python at '/opt/nothing/python'", "pip install onnxruntime")


def test_adb_without_benchmark_binary(rig, models, tmp_path):
    failed(run_cli("bench", models["tflite_int8"], "--device", f"adb://{rig['ADB_SERIAL']}", *SHORT, "--no-record",
                   *rig_flags(rig), env={"XDG_CACHE_HOME": str(tmp_path)}),
           "no benchmark_model binary for ABI arm64-v8a", "--benchmark-binary",
           str(tmp_path / "edgekit/benchmark_model/arm64-v8a/benchmark_model"))
