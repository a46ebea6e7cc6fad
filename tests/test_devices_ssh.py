"""`edgekit devices` / `edgekit bench --device ssh://...` against the emulated Raspberry Pi
(aarch64 userland under qemu, real OpenSSH; see rig/README.md).  Emulation is ~100x slower
than a Pi: tiny models and a few runs; behaviour and output equality are asserted, never speed."""
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
from device_rig import SHORT, pi_uri, rig, rig_flags, ssh  # noqa: E402,F401

pytestmark = pytest.mark.rig


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_models(tmp_path_factory)


@pytest.fixture
def pi_dir(rig):
    """A fresh directory on the emulated Pi (as ?tmpdir=), to prove nothing is left in it."""
    d = f"/tmp/edgekit-test-{uuid.uuid4().hex[:8]}"
    assert ssh(rig, "mkdir", d).returncode == 0
    yield d
    ssh(rig, "rm", "-rf", d)


def listing(rig, d: str) -> list[str]:
    r = ssh(rig, "ls", "-A", d)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_devices_probe_pi(rig):
    proc = run_cli("devices", pi_uri(rig), "--json", *rig_flags(rig))
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)["devices"][0]
    assert info["arch"] == "aarch64" and info["transport"] == "ssh"
    assert info["os"].startswith("Debian GNU/Linux 12") and info["model"].startswith("Raspberry Pi 4")
    assert info["cpu_model"] == "4x Cortex-A72"
    assert info["clusters"] == [{"cpus": [0, 1, 2, 3], "max_mhz": 1500, "core": "Cortex-A72"}]
    assert info["runtimes"]["ai_edge_litert"] == "2.3.0" and info["runtimes"]["numpy"]
    assert info["can_run"]["tflite"].startswith("runner.py with ai_edge_litert")
    assert info["synthetic_sysfs"]  # the rig says its sysfs is synthetic, and so do we
    assert {"governor", "temperature_c", "throttled"} <= set(info["state"])


def test_bench_int8_on_pi_matches_host(rig, models, pi_dir, tmp_path):
    """Same statistics fields as a host run, aarch64 device info, int8 outputs equal to the
    host's on real photos, a row in the results database, nothing left on the device."""
    f = models["tflite_int8"]
    db = tmp_path / "r.sqlite"
    proc = run_cli("bench", f, "--device", pi_uri(rig, tmpdir=pi_dir), "--validate", *SHORT, "--json",
                   "--db", db, *rig_flags(rig))
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)["results"][0]
    host = run_cli("bench", f, *SHORT, "--json", "--no-record")
    assert host.returncode == 0, host.stderr
    h = json.loads(host.stdout)["results"][0]
    assert set(r["stats"]) == set(h["stats"]) and all(r["stats"][k] is not None for k in r["stats"])
    assert set(h) - set(r) == set(), set(h) - set(r)  # every host field, plus device ones
    assert r["host"]["machine"] == "aarch64" and r["device"]["arch"] == "aarch64"
    assert r["where"] == pi_uri(rig, tmpdir=pi_dir) and r["timer"] == "python perf_counter loop"
    assert r["runtime"] == "ai_edge_litert" and r["device"]["method"].startswith("runner.py (ai_edge_litert")
    v = r["validation"]
    assert v["status"] == "equal" and v["equal"] and v["max_abs_diff"] == 0.0 and v["samples"] == 12
    assert r["device"]["remote_dir"].startswith(pi_dir + "/edgekit.")
    assert listing(rig, pi_dir) == []  # runner, model, inputs, outputs, JSON: all removed
    row = sqlite3.connect(db).execute("SELECT file, engine, p50_ms, result_json FROM benchmarks").fetchall()
    assert len(row) == 1 and row[0][0] == str(f) and row[0][2] > 0
    assert json.loads(row[0][3])["device"]["arch"] == "aarch64"


def test_bench_default_tmp_is_cleaned(rig, models):
    proc = run_cli("bench", models["onnx"], "--device", pi_uri(rig), *SHORT, "--json", "--no-record",
                   *rig_flags(rig))
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)["results"][0]
    assert r["engine_name"] == "onnxruntime" and r["host"]["machine"] == "aarch64"
    d = r["device"]["remote_dir"]
    assert d.startswith("/tmp/edgekit.") and ssh(rig, "test", "-e", d).returncode == 1


def test_remote_paths_with_spaces_and_metacharacters(rig, models, tmp_path):
    """A remote directory and a model name full of shell syntax: used verbatim, never executed."""
    marker = f"/tmp/edgekit-injected-{uuid.uuid4().hex[:8]}"
    nasty_dir = f"/tmp/ek dir;$(touch {marker}) `touch {marker}` it's & x"
    assert ssh(rig, "mkdir", "-p", nasty_dir).returncode == 0
    try:
        local = tmp_path / f"tiny $(touch {marker.rsplit('/', 1)[1]}); it's.tflite"
        shutil.copy(models["tflite_int8"], local)
        proc = run_cli("bench", local, "--device", pi_uri(rig, tmpdir=nasty_dir), *SHORT, "--json", "--no-record",
                       *rig_flags(rig), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        r = json.loads(proc.stdout)["results"][0]
        assert r["model"].startswith(nasty_dir + "/edgekit.") and r["model"].endswith(local.name)
        assert ssh(rig, "test", "-e", marker).returncode == 1, "a path was run by the remote shell"
        assert listing(rig, nasty_dir) == []
        assert not list(tmp_path.glob("edgekit-injected-*"))
    finally:  # the name holds "/" (in the marker path): remove from its first component
        ssh(rig, "rm", "-rf", "/tmp/" + nasty_dir[len("/tmp/"):].split("/")[0], marker)


@pytest.mark.slow
def test_real_mobilenet_v2_int8_on_pi(rig, tmp_path, mobilenet_v2_export):
    """The issue's own case: the int8 MobileNetV2 .tflite `edgekit export` wrote (torchvision
    weights), benched and validated on the emulated Pi (about a minute under emulation)."""
    out, _ = mobilenet_v2_export
    path = out / "mobilenet_v2_int8.tflite"
    photos = tmp_path / "photos"
    photos.mkdir()
    src = Path(__file__).resolve().parents[1] / "src/edgekit/data/photos"
    for p in sorted(src.glob("*.jpg"))[:4]:
        shutil.copy(p, photos / p.name)
    proc = run_cli("bench", path, "--device", pi_uri(rig), "--validate", "--data", photos, *SHORT, "--json",
                   "--no-record", *rig_flags(rig), timeout=900)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)["results"][0]
    assert r["host"]["machine"] == "aarch64" and r["validation"]["equal"] and r["validation"]["samples"] == 4
