"""`edgekit bench --device adb://127.0.0.1:PORT` with Debian's real adb client against the rig's
adb device STAND-IN (not a phone) and its benchmark_model STAND-IN (not the native tool): ABI
detection, big-core pinning, benchmark_model's output parsed, cleanup, several devices at once."""
from __future__ import annotations

import json
import shutil
import sqlite3
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import tiny_models  # noqa: E402
from conftest import run_cli  # noqa: E402
from device_rig import SHORT, adb_shell, pi_uri, rig, rig_flags, ssh  # noqa: E402,F401

pytestmark = pytest.mark.rig


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_models(tmp_path_factory)


def adb_uri(rig, **query) -> str:
    return f"adb://{rig['ADB_SERIAL']}" + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


@pytest.fixture
def device_dir(rig):
    d = f"/data/local/tmp/edgekit-test-{uuid.uuid4().hex[:8]}"
    assert adb_shell(rig, "mkdir", d).returncode == 0
    yield d
    adb_shell(rig, "rm", "-rf", d)


def test_devices_probe_adb(rig):
    proc = run_cli("devices", adb_uri(rig), "--json", *rig_flags(rig),
                   "--benchmark-binary", rig["BENCHMARK_MODEL_STANDIN"])
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)["devices"][0]
    assert (info["abi"], info["arch"], info["os"]) == ("arm64-v8a", "aarch64", "Android 14 (SDK 34)")
    assert info["standin"] is True and info["cpu_model"] == "4x Cortex-A55 + 4x Cortex-A76"
    assert [(c["cpus"], c["max_mhz"]) for c in info["clusters"]] == [([0, 1, 2, 3], 1800), ([4, 5, 6, 7], 2800)]
    assert info["big_core_mask"]["mask"] == "f0"
    assert info["can_run"]["tflite"].startswith("benchmark_model")


def test_bench_benchmark_model_from_cache_dir(rig, models, device_dir, tmp_path):
    """The binary found in the documented cache dir, pinned to the big cores, output parsed."""
    cache = tmp_path / "cache"
    binary = cache / "edgekit/benchmark_model/arm64-v8a/benchmark_model"
    binary.parent.mkdir(parents=True)
    shutil.copy(rig["BENCHMARK_MODEL_STANDIN"], binary)
    db = tmp_path / "r.sqlite"
    proc = run_cli("bench", models["tflite_int8"], "--device", adb_uri(rig, tmpdir=device_dir), *SHORT,
                   "--threads", "1,2", "--json", "--db", db, *rig_flags(rig), env={"XDG_CACHE_HOME": str(cache)})
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)["results"]
    assert [r["threads"] for r in results] == [1, 2]
    for r in results:
        assert r["runtime"] == "benchmark_model" and r["benchmark_binary"]["path"] == str(binary)
        assert r["device"]["abi"] == "arm64-v8a" and r["host"]["machine"] == "aarch64"
        assert r["device"]["pinning"]["mask"] == "f0" and r["device"]["pinning"]["cpus"] == [4, 5, 6, 7]
        assert r["device"]["command"].startswith("taskset f0 " + device_dir + "/edgekit.")
        assert f"--num_threads={r['threads']}" in r["device"]["command"]
        s = r["stats"]
        assert s["runs"] >= 3 and 0 < s["min_ms"] <= s["mean_ms"] <= s["max_ms"] and s["std_ms"] >= 0
        assert s["p50_ms"] is None and r["stats_unavailable"] == ["p50_ms", "p90_ms", "p99_ms"]
        assert r["load_ms"] > 0 and r["first_inference_ms"] > 0 and r["warmup_runs"] >= 1
        assert r["peak_rss_mb"] > 0 and r["memory_mb"]["overall_delta"] is not None
        assert "STAND-IN" in r["timer"]
    assert adb_shell(rig, "ls", "-A", device_dir).stdout.split() == []  # binary, model: removed
    rows = sqlite3.connect(db).execute("SELECT threads, runs, mean_ms, p50_ms FROM benchmarks").fetchall()
    assert [(t, p50) for t, _, _, p50 in rows] == [(1, None), (2, None)] and all(m > 0 for _, _, m, _ in rows)


def test_adb_paths_with_metacharacters(rig, models, tmp_path):
    marker = f"/data/local/tmp/edgekit-injected-{uuid.uuid4().hex[:8]}"
    nasty = f"/data/local/tmp/ek dir;$(touch {marker}) `touch {marker}` it's & x"
    assert adb_shell(rig, "mkdir", "-p", nasty).returncode == 0
    try:
        local = tmp_path / "tiny $(reboot); it's.tflite"
        shutil.copy(models["tflite_int8"], local)
        proc = run_cli("bench", local, "--device", f"adb://{rig['ADB_SERIAL']}?tmpdir={nasty.replace('&', '%26')}",
                       *SHORT, "--json", "--no-record", *rig_flags(rig),
                       "--benchmark-binary", rig["BENCHMARK_MODEL_STANDIN"])
        assert proc.returncode == 0, proc.stderr
        r = json.loads(proc.stdout)["results"][0]
        assert r["model"].startswith(nasty + "/edgekit.") and r["model"].endswith(local.name)
        assert adb_shell(rig, "test", "-e", marker).returncode == 1, "a path was run by the device shell"
        assert adb_shell(rig, "ls", "-A", nasty).stdout.split() == []
    finally:  # the name holds "/" (in the marker path): remove from its first component
        adb_shell(rig, "rm", "-rf", "/data/local/tmp/" + nasty[len("/data/local/tmp/"):].split("/")[0], marker)


def test_two_devices_one_table_one_run(rig, models, tmp_path):
    """ssh + adb in one command: measured concurrently, one table, every row in one database run."""
    db = tmp_path / "r.sqlite"
    proc = run_cli("bench", models["tflite_int8"], "--device", pi_uri(rig), "--device", adb_uri(rig), *SHORT,
                   "--db", db, *rig_flags(rig), "--benchmark-binary", rig["BENCHMARK_MODEL_STANDIN"])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["device", "file", "engine"] and sum(ln.startswith("device") for ln in lines) == 1
    assert lines[2].startswith(pi_uri(rig)) and lines[3].startswith(adb_uri(rig))  # in --device order
    assert "runner.py" in lines[2] and "bm@f0" in lines[3]
    assert "recorded 2 row(s) as run 1" in proc.stderr
    rows = sqlite3.connect(db).execute("SELECT run_id, result_json FROM benchmarks ORDER BY id").fetchall()
    assert {run for run, _ in rows} == {1}
    assert sorted(json.loads(j)["where"] for _, j in rows) == sorted([pi_uri(rig), adb_uri(rig)])


def test_adb_device_with_python_runs_runner_and_validates(rig, models):
    """A device with python + numpy + runtimes (here: the stand-in's root has /opt/venv): .onnx runs
    through runner.py pinned to the big cores, and .tflite is validated with runner.py while
    benchmark_model does the timing."""
    uri = f"adb://{rig['ADB_SERIAL']}?python=/opt/venv/bin/python3"
    proc = run_cli("bench", models["tflite_int8"], models["onnx"], "--device", uri, "--validate", *SHORT, "--json",
                   "--no-record", *rig_flags(rig), "--benchmark-binary", rig["BENCHMARK_MODEL_STANDIN"])
    assert proc.returncode == 0, proc.stderr
    tfl, onnx = json.loads(proc.stdout)["results"]
    assert tfl["runtime"] == "benchmark_model" and tfl["validation"]["status"] == "equal"
    assert onnx["runtime"] == "onnxruntime" and onnx["device"]["command"].startswith("taskset f0 /opt/venv/bin/python3 ")
    assert onnx["stats"]["p50_ms"] > 0 and onnx["validation"]["top1_agreement"] == 1.0
    assert onnx["validation"]["max_abs_diff"] < 1e-4  # float: equal up to rounding between CPUs
