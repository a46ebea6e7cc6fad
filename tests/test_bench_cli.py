"""`edgekit bench`: table on stdout / one JSON document, progress on stderr, every file type,
interleaving, thread lists, recording, and one clear line for each bad input."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import block_modules_dir, tiny_models  # noqa: E402
from conftest import assert_clean_error, run_cli  # noqa: E402

SHORT = ["--min-runs", "5", "--min-seconds", "0.1", "--warmup-seconds", "0"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_models(tmp_path_factory)


def test_bench_every_format_json(tmp_path, models):
    files = [models[k] for k in ("onnx", "openvino", "tflite", "tflite_int8") if k in models]
    proc = run_cli("bench", *files, *SHORT, "--json", "--db", tmp_path / "r.sqlite")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # stdout is exactly one JSON document
    assert "bench: loading" in proc.stderr and "recorded as run 1" in proc.stderr
    assert [Path(r["file"]).name for r in doc["results"]] == [f.name for f in files]
    for r in doc["results"]:
        assert r["stats"]["runs"] >= 5 and r["peak_rss_mb"] > 0 and r["file_size_bytes"] > 0
        assert {"p50_ms", "p90_ms", "p99_ms", "std_ms"} <= set(r["stats"]) and r["load_ms"] > 0
    engines = {Path(r["file"]).suffix: r["engine_name"] for r in doc["results"]}
    assert engines[".onnx"] == "onnxruntime" and engines.get(".xml", "openvino") == "openvino"
    assert engines.get(".tflite", "litert") == "litert"
    if "tflite_int8" in models:  # precision guessed from the file name: a ratio int8 vs fp32
        assert any(q["format"] == "tflite" and q["speedup"] > 0 for q in doc["ratios"])
    assert doc["run_id"] == 1 and doc["config"]["interleave"] is True


def test_bench_table_threads_and_sequential(models):
    proc = run_cli("bench", models["onnx"], models["onnx"], *SHORT, "--threads", "1,2", "--no-interleave",
                       "--no-record")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:5] == ["file", "engine", "thr", "runs", "p50"]
    body = [ln for ln in lines[2:] if ln.startswith("tiny.onnx")]
    assert len(body) == 4 and sorted(ln.split()[2] for ln in body) == ["1", "1", "2", "2"]
    assert "bench [4/4]" in proc.stderr and "recorded" not in proc.stderr


@pytest.mark.parametrize("interleave", [True, False])
def test_runs_pooled_from_fresh_processes(models, interleave):
    """Default: 3 processes per file, each with its share of the minimums; stats over all their runs."""
    from edgekit.runtime_bench.measure import BenchConfig, measure, plan

    cfg = BenchConfig(min_runs=30, min_seconds=0.3, warmup_seconds=0, interleave=interleave)
    assert cfg.processes == 3
    results = measure(plan([models["onnx"], models["onnx"]], cfg), cfg)
    for r in results:
        per = r["per_process"]
        assert r["processes"] == 3 and len(per) == 3
        assert r["stats"]["runs"] == sum(p["runs"] for p in per) == len(r["times_ms"]) >= 30
        assert all(p["runs"] >= 10 for p in per)  # ceil(30 / 3) each
        assert sum(r["times_ms"]) >= 300 * 0.8  # seconds are wall time of the timing loop, a bit more than the sum
        p50s = [p["p50_ms"] for p in per]
        # a pooled median lies between the groups' (times_ms is rounded to 0.1 us)
        assert min(p50s) - 1e-4 <= r["stats"]["p50_ms"] <= max(p50s) + 1e-4
        assert r["process_spread"] == pytest.approx((max(p50s) - min(p50s)) / sorted(p50s)[1])
        assert r["peak_rss_mb"] == max(p["peak_rss_mb"] for p in per)
        assert r["load_ms"] == sorted(p["load_ms"] for p in per)[1]


def test_one_process_and_bad_process_count(models):
    proc = run_cli("bench", models["onnx"], *SHORT, "--processes", "1", "--json", "--no-record")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)["results"][0]
    assert r["processes"] == 1 and "per_process" not in r and "[process" not in proc.stderr
    _one_line_error(run_cli("bench", models["onnx"], "--processes", "0", "--no-record"),
                    "'--processes': takes an integer from 1 to 64")


def test_unsteady_machine_is_said(models):
    """A file whose processes disagree by more than 5% gets one note line naming it."""
    from edgekit.runtime_bench.pool import pool, unsteady_note

    base = {"stats": {"p50_ms": 1.0, "runs": 3}, "times_ms": [1.0, 1.0, 1.0], "load_ms": 1.0, "peak_rss_mb": 1.0}
    steady = [dict(base), dict(base), dict(base)]
    slow = dict(base, stats={"p50_ms": 1.2, "runs": 3}, times_ms=[1.2] * 3)
    assert unsteady_note([dict(pool(steady), file="a.onnx")]) is None
    note = unsteady_note([dict(pool(steady), file="a.onnx"), dict(pool([base, base, slow]), file="/x/b.onnx")])
    assert note.startswith("note: the 3 processes' medians for b.onnx differ by 20% (1-1.2 ms)")


def test_openvino_bf16_engine(models):
    if "openvino" not in models:
        pytest.skip("openvino not installed")
    proc = run_cli("bench", models["openvino"], *SHORT, "--engine", "openvino-bf16", "--json", "--no-record")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)["results"][0]
    assert r["engine_name"] == "openvino-bf16" and r["precision_hint"] in ("bf16", "f32")  # f32 if no bf16 CPU


def _one_line_error(proc, *needles):
    """One "error: ..." line (after progress lines at most), non-zero exit, no traceback, no stdout."""
    assert proc.stdout == ""
    assert all(ln.startswith(("bench", "error: ")) for ln in proc.stderr.splitlines()), proc.stderr
    assert_clean_error(proc, *needles)


def test_unknown_format(tmp_path):
    f = tmp_path / "model.pb"
    f.write_bytes(b"\0")
    _one_line_error(run_cli("bench", f, "--no-record"), "Unknown model file type '.pb'", ".onnx, .tflite, .xml")


def test_missing_runtime_names_the_extra(tmp_path, models):
    """The runtime is found but fails to import: the runner process reports it."""
    blocked = block_modules_dir(tmp_path, "onnxruntime")
    proc = run_cli("bench", models["onnx"], *SHORT, "--no-record",
                       env={"PYTHONPATH": str(blocked)})
    _one_line_error(proc, "pip install 'edgekit[onnx]'")


@pytest.mark.parametrize("engine, extra", [("onnxruntime", "onnx"), ("litert", "tflite"),
                                           ("openvino", "openvino"), ("openvino-bf16", "openvino")])
def test_absent_runtime_refused_before_any_process(monkeypatch, engine, extra):
    import importlib.util

    from edgekit.errors import MissingDependencyError
    from edgekit.runtime_bench import measure

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(MissingDependencyError, match=rf"pip install 'edgekit\[{extra}\]'"):
        measure.check_runtime(engine)


@pytest.mark.parametrize("threads", ["0", "1,0", "two", "-1"])
def test_bad_threads(models, threads):
    _one_line_error(run_cli("bench", models["onnx"], "--threads", threads, "--no-record"),
                    "'--threads': takes comma-separated values, each an integer from 1 to 1024")


def test_unreadable_database(tmp_path, models):
    _one_line_error(run_cli("bench", models["onnx"], *SHORT, "--db", tmp_path), "Cannot open results database")
    (tmp_path / "f").write_text("x")
    _one_line_error(run_cli("bench", models["onnx"], *SHORT, env={"EDGEKIT_DB": str(tmp_path / "f" / "x")}),
                    "Cannot open results database")


def test_missing_file_and_wrong_engine(tmp_path, models):
    _one_line_error(run_cli("bench", tmp_path / "nope.onnx", "--no-record"), "does not exist")
    _one_line_error(run_cli("bench", models["onnx"], "--engine", "litert", "--no-record"),
                    "Engine litert cannot run onnx files")


def test_corrupt_model_file(tmp_path):
    f = tmp_path / "broken.onnx"
    f.write_bytes(b"not an onnx model")
    _one_line_error(run_cli("bench", f, *SHORT, "--no-record"), "onnxruntime cannot load")
