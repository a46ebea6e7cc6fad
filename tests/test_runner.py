"""runner.py: the single-file measurement program that also runs on devices.

It must import nothing but the standard library, numpy and its runtime; its JSON is a contract
with the device side; its statistics and int8 I/O handling are checked by hand here.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import RUNNER, block_modules_dir, env, tiny_models  # noqa: E402

from edgekit.runtime_bench import runner  # noqa: E402

SHORT = ["--warmup", "1", "--warmup-seconds", "0", "--min-runs", "5", "--min-seconds", "0.05"]
FORBIDDEN = ("torch", "tensorflow", "keras", "edgekit", "jax", "onnx", "nncf", "ray")
# Run a copy of runner.py (as pushed to a device) with the forbidden packages poisoned: any import
# of them raises ImportError, and afterwards none of them may be in sys.modules.
POISONED = """
import json, runpy, sys
forbidden = {forbidden!r}
for name in forbidden:
    sys.modules[name] = None
sys.argv = [{runner!r}] + {argv!r}
try:
    runpy.run_path({runner!r}, run_name="__main__")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
loaded = sorted(m for m in sys.modules if m.split(".")[0] in forbidden and sys.modules[m] is not None)
json.dump({{"code": code, "loaded": loaded}}, open({report!r}, "w"))
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_models(tmp_path_factory)


def run_isolated(tmp_path, argv):
    copy = tmp_path / "device" / "runner.py"
    copy.parent.mkdir(exist_ok=True)
    shutil.copy(RUNNER, copy)
    report = tmp_path / "isolation.json"
    code = POISONED.format(forbidden=FORBIDDEN, runner=str(copy), argv=list(map(str, argv)), report=str(report))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={k: v for k, v in env().items() if k != "PYTHONPATH"})
    return proc, json.loads(report.read_text())


SCHEMA_KEYS = {"schema": int, "engine": str, "runtime": str, "runtime_version": str, "model": str,
               "model_sha256": str, "file_size_bytes": int, "threads": int, "load_ms": float,
               "first_inference_ms": float, "stats": dict, "peak_rss_mb": float, "host": dict, "timer": str,
               "input": dict, "times_ms": list}
STATS_KEYS = ("runs", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "min_ms", "max_ms")


@pytest.mark.parametrize("kind", ["onnx", "openvino", "tflite", "tflite_int8"])
def test_isolated_run_and_schema(tmp_path, models, kind):
    if kind not in models:
        pytest.skip(f"no {kind} runtime/converter installed")
    out = tmp_path / "result.json"
    proc, iso = run_isolated(tmp_path, ["--model", models[kind], *SHORT, "--json-out", out])
    assert iso["code"] in (0, None), proc.stderr
    assert iso["loaded"] == [], f"runner imported {iso['loaded']}"
    doc = json.loads(out.read_text())
    for key, typ in SCHEMA_KEYS.items():
        assert isinstance(doc[key], typ), (key, doc.get(key))
    assert doc["schema"] == 1 and doc["threads"] == 1 and doc["timer"] == "python perf_counter loop"
    assert set(STATS_KEYS) <= set(doc["stats"]) and doc["stats"]["runs"] >= 5
    assert len(doc["times_ms"]) == doc["stats"]["runs"]
    assert doc["stats"]["min_ms"] <= doc["stats"]["p50_ms"] <= doc["stats"]["p90_ms"] <= doc["stats"]["p99_ms"] \
        <= doc["stats"]["max_ms"]
    assert set(doc["host"]) == {"machine", "cpu_model", "cores", "os", "python"}
    assert len(doc["model_sha256"]) == 64 and doc["peak_rss_mb"] > 10
    if kind == "openvino":  # .xml + .bin, and fp32 really runs in f32
        assert doc["file_size_bytes"] == models[kind].stat().st_size + models[kind].with_suffix(".bin").stat().st_size
        assert doc["precision_hint"] == "f32"
    if kind == "tflite_int8":
        assert doc["input"]["dtype"] == "int8" and doc["input"]["quantization"][0] > 0


def test_latency_stats_by_hand():
    s = runner.latency_stats(list(range(1, 101)))
    assert s["runs"] == 100 and s["min_ms"] == 1 and s["max_ms"] == 100
    assert s["p50_ms"] == pytest.approx(50.5) and s["p90_ms"] == pytest.approx(90.1)
    assert s["p99_ms"] == pytest.approx(99.01) and s["mean_ms"] == pytest.approx(50.5)
    assert s["std_ms"] == pytest.approx(np.sqrt((100 ** 2 - 1) / 12))  # population std of 1..n
    one = runner.latency_stats([3.0])
    assert one["p50_ms"] == one["p99_ms"] == one["min_ms"] == 3.0 and one["std_ms"] == 0


def test_quantize_round_trip():
    x = np.array([-2.0, -0.5, 0.0, 0.26, 10.0], np.float32)
    q = runner.quantize(x, [0.05, -3], np.int8)
    assert q.dtype == np.int8 and q.tolist() == [-43, -13, -3, 2, 127]  # 10.0 saturates
    back = runner.dequantize(q, [0.05, -3])
    assert np.allclose(back[:4], x[:4], atol=0.025) and back[4] == pytest.approx(6.5)
    assert runner.quantize(x, None, np.float32) is x


def test_outputs_match_in_process_engine(tmp_path, models):
    """--input-npy NCHW samples in, --output-npy out: equal to edgekit's ORT engine."""
    from edgekit.runtime_bench.engines import open_engine

    x = np.random.default_rng(1).standard_normal((3, 3, 32, 32)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npy"
    proc = subprocess.run([sys.executable, str(RUNNER), "--model", str(models["onnx"]), *SHORT,
                           "--input-npy", str(tmp_path / "x.npy"), "--output-npy", str(out),
                           "--json-out", str(tmp_path / "r.json")], capture_output=True, text=True, env=env())
    assert proc.returncode == 0, proc.stderr
    expected = open_engine(models["onnx"]).run(x)
    assert np.allclose(np.load(out), expected, atol=1e-5)
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["outputs_written"] == 3 and doc["input"]["source"] == "npy"


def test_nchw_input_for_nhwc_int8_tflite(tmp_path, models):
    if "tflite_int8" not in models:
        pytest.skip("no TFLite converter")
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 32, 32), np.float32))
    proc = subprocess.run([sys.executable, str(RUNNER), "--model", str(models["tflite_int8"]), *SHORT,
                           "--input-npy", str(tmp_path / "x.npy"), "--output-npy", str(tmp_path / "y.npy"),
                           "--json-out", str(tmp_path / "r.json")], capture_output=True, text=True, env=env())
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["input"]["layout_converted"] == "NCHW->NHWC" and doc["input"]["shape"] == [1, 32, 32, 3]
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.float32 and y.shape == (2, 10) and np.allclose(y[0], y[1])  # dequantized


def test_serve_protocol(tmp_path, models):
    out = tmp_path / "r.json"
    proc = subprocess.Popen([sys.executable, str(RUNNER), "--model", str(models["onnx"]), *SHORT, "--serve",
                             "--json-out", str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=env())
    try:
        assert json.loads(proc.stdout.readline()) == {"ready": True}
        total = 0
        for _ in range(3):
            proc.stdin.write("run 0.02 4\n")
            proc.stdin.flush()
            chunk = json.loads(proc.stdout.readline())["times_ms"]
            assert 1 <= len(chunk) <= 4
            total += len(chunk)
        proc.stdin.write("finish\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline()) == {"done": True}
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    assert json.loads(out.read_text())["stats"]["runs"] == total


@pytest.mark.parametrize("case", ["unknown_suffix", "missing_file", "wrong_engine", "zero_threads", "missing_runtime"])
def test_errors(tmp_path, models, case):
    model, extra, e = models["onnx"], [], env()
    if case == "unknown_suffix":
        model = tmp_path / "model.pb"
        model.write_bytes(b"x")
    elif case == "missing_file":
        model = tmp_path / "nope.onnx"
    elif case == "wrong_engine":
        extra = ["--engine", "litert"]
    elif case == "zero_threads":
        extra = ["--threads", "0"]
    else:
        e["PYTHONPATH"] = str(block_modules_dir(tmp_path, "onnxruntime"))
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, str(RUNNER), "--model", str(model), *SHORT, *extra,
                           "--json-out", str(out)], capture_output=True, text=True, env=e)
    doc = json.loads(out.read_text())
    assert proc.returncode == (3 if case == "missing_runtime" else 2), proc.stderr
    assert "Traceback" not in proc.stderr and doc["schema"] == 1 and doc["error"]
    if case == "missing_runtime":
        assert doc["error_kind"] == "missing_runtime" and "pip install 'edgekit[onnx]'" in doc["error"]
