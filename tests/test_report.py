"""Reports: Markdown + one self-contained HTML page whose plots render in headless Chromium;
and `edgekit run MODEL --int8`, the README's main job, end to end."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from conftest import run_cli  # noqa: E402

from edgekit.report.build import write_report  # noqa: E402

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: apt-get install -y chromium")
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    return exe


def screenshot(html: Path, tmp: Path, size=(1200, 2400)) -> np.ndarray:
    from PIL import Image

    png = tmp / f"{html.stem}.png"
    proc = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'chromium-profile'}",
                           f"--screenshot={png}", f"--window-size={size[0]},{size[1]}", html.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert png.is_file(), proc.stderr[-2000:]
    return np.asarray(Image.open(png).convert("RGB")).astype(int)


def colored_pixels(img: np.ndarray) -> int:
    """Pixels with clear colour (plot boxes, bars, markers); page text and tables are grey."""
    return int(((img.max(2) - img.min(2)) > 60).sum())


def inked_pixels(img: np.ndarray) -> int:
    return int((img < 200).any(axis=2).sum())


def fake_result(file: str, fmt: str, precision: str, p50: float, top1: float, size: int) -> dict:
    times = list(np.random.default_rng(len(file)).normal(p50, p50 * 0.05, 80).clip(p50 * 0.8))
    st = {"runs": 80, "p50_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90)),
          "p99_ms": float(np.percentile(times, 99)), "mean_ms": float(np.mean(times)), "std_ms": float(np.std(times)),
          "min_ms": float(min(times)), "max_ms": float(max(times))}
    engine = {"onnx": "onnxruntime", "tflite": "litert", "openvino": "openvino"}[fmt]
    return {"schema": 1, "file": file, "engine": engine, "engine_name": engine, "runtime": engine,
            "runtime_version": "1.0", "threads": 1, "stats": st, "times_ms": times, "load_ms": 50.0,
            "first_inference_ms": p50 * 2, "peak_rss_mb": 100.0, "file_size_bytes": size, "model_sha256": file,
            "timer": "python perf_counter loop", "host": {"cpu_model": "Test CPU", "cores": 2},
            "artifact": {"model": "m", "format": fmt, "precision": precision,
                         "accuracy": {"top1_agreement": top1, "samples": 40}}}


def check_report(html: Path, tmp: Path, expected_plots=("latency", "accuracy", "size")) -> None:
    page = html.read_text()
    # self-contained: no scripts, stylesheets or images fetched from anywhere
    assert "<script" not in page and "<link" not in page
    srcs = re.findall(r"src='([^']*)'", page)
    assert srcs and all(s.startswith("data:image/svg+xml;base64,") for s in srcs)
    whole = screenshot(html, tmp)
    assert (whole < 250).any(axis=2).mean() > 0.02, "the page rendered blank"
    blank = tmp / "no_plots.html"
    blank.write_text(re.sub(r"<img [^>]*>", "", page))
    baseline = colored_pixels(screenshot(blank, tmp, (1000, 900)))
    for key in expected_plots:  # each plot alone on a page: it must draw coloured marks
        img = re.search(rf"<img class='plot' id='plot-{key}'[^>]*>", page)
        assert img, f"plot {key} missing"
        single = tmp / f"only_{key}.html"
        single.write_text(f"<!DOCTYPE html><html><body>{img.group(0)}</body></html>")
        shot = screenshot(single, tmp, (1000, 900))
        # a broken image is a 16 px icon; a plot has axes, ticks, labels (ink) and coloured marks
        assert inked_pixels(shot) > 3000 and colored_pixels(shot) > baseline + 150, \
            f"plot {key} did not render ({inked_pixels(shot)} inked, {colored_pixels(shot)} coloured pixels)"


def test_report_renders_in_chromium(tmp_path):
    results = [fake_result("/x/m_fp32.onnx", "onnx", "fp32", 6.0, 1.0, 14_000_000),
               fake_result("/x/m_int8.onnx", "onnx", "int8", 3.3, 0.93, 3_900_000),
               fake_result("/x/m_fp32.tflite", "tflite", "fp32", 5.6, 1.0, 14_000_000),
               fake_result("/x/m_int8.tflite", "tflite", "int8", 3.6, 0.95, 4_000_000),
               fake_result("/x/m_int8.xml", "openvino", "int8", 2.4, 0.92, 4_000_000)]
    from edgekit.runtime_bench.bench import speed_ratios

    doc = {"title": "test report", "results": results, "env": {"host": {"cpu_model": "Test CPU"}},
           "ratios": speed_ratios(results), "run": {"id": 7}}
    written = write_report(doc, tmp_path / "out")
    md = Path(written["md"]).read_text()
    assert "| m_int8.onnx | onnx | int8 |" in md and "![Latency distribution](latency.svg)" in md
    assert "int8 is 1.8" in md  # 6.0 / 3.3, give or take the noise added above
    for key in ("latency", "accuracy", "size"):
        assert Path(written[key]).read_text().lstrip().startswith("<?xml")
    check_report(Path(written["html"]), tmp_path)


def test_a_file_whose_float_outputs_were_constant_shows_no_agreement(tmp_path):
    """Random-init weights give constant logits: validation's 100% agreement says nothing, so the
    table leaves it blank and the report says why, in Markdown and HTML alike."""
    said_nothing = fake_result("/x/r_int8.onnx", "onnx", "int8", 1.0, 1.0, 1_000_000)
    warning = "the float model's outputs are constant across classes on all 12 images"
    said_nothing["artifact"]["accuracy"].update(cosine_mean=0.0, sqnr_db=125.9, warnings=[warning])
    results = [fake_result("/x/m_int8.onnx", "onnx", "int8", 3.3, 0.93, 3_900_000), said_nothing]
    doc = {"title": "t", "results": results, "env": {"host": {"cpu_model": "Test CPU"}}, "run": {"id": 1}}
    written = write_report({**doc, "plots": []}, tmp_path / "out")
    md = Path(written["md"]).read_text()
    row = next(line for line in md.splitlines() if line.startswith("| r_int8.onnx"))
    assert "100.0%" not in row and "125.9" not in row
    assert "| 93.0% |" in next(line for line in md.splitlines() if line.startswith("| m_int8.onnx"))
    assert "## Accuracy not measured" in md and f"- r_int8.onnx: {warning}" in md
    assert "Accuracy not measured" in Path(written["html"]).read_text()


def test_report_command_and_errors(tmp_path):
    from edgekit.report.db import ResultsDB

    db = tmp_path / "r.sqlite"
    ResultsDB(db).close()
    empty = run_cli("report", "--db", db, "--out", tmp_path / "rep")
    assert empty.returncode == 2 and "edgekit bench" in empty.stderr and "Traceback" not in empty.stderr
    with ResultsDB(db) as d:
        d.record_bench([fake_result("/x/m_fp32.onnx", "onnx", "fp32", 6.0, 1.0, 14_000_000)])
    ok = run_cli("report", "--db", db, "--out", tmp_path / "rep", "--json")
    assert ok.returncode == 0, ok.stderr
    written = json.loads(ok.stdout)
    assert Path(written["html"]).is_file() and Path(written["md"]).is_file()


@pytest.mark.slow
def test_run_main_job_end_to_end(tmp_path, mobilenet_v2_weights):
    """`edgekit run mobilenet_v2 --int8` with short bench settings: every format and precision
    exported, validated, benched (plus the PyTorch model), recorded, reported."""
    db = tmp_path / "r.sqlite"
    proc = run_cli("run", "mobilenet_v2", "--weights", mobilenet_v2_weights, "--int8", "--out", tmp_path / "out",
                   "--min-runs", "5", "--min-seconds", "0.1", "--warmup-seconds", "0", "--db", db, "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    from edgekit.pipeline import available_formats

    formats = set(available_formats())
    benched = {(r["artifact"]["format"], r["artifact"]["precision"]) for r in doc["results"]}
    assert benched == {(f, p) for f in formats for p in ("fp32", "int8")} | {("torch", "fp32")}
    assert {q["format"] for q in doc["ratios"]} == formats
    for a in doc["export"]["artifacts"]:
        assert a["meta"]["accuracy"]["samples"] > 0
    from edgekit.report.db import ResultsDB

    with ResultsDB(db) as d:
        run = d.runs(kind="run")[0]
        assert run["exports"] == 2 * len(formats) and run["benchmarks"] == 2 * len(formats) + 1
        assert run["validations"] == 2 * len(formats)
    check_report(Path(doc["report"]["html"]), tmp_path)
