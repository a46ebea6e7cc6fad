"""ncnn (.param/.bin via pnnx) of MobileNetV2 with torchvision's weights: fp32 and fp16, on the real photos.

fp32 must agree with float on every held-out photo (cosine >= 0.9999), fp16 within 3 photos
(cosine >= 0.9999 on average); both are benchmarked beside
the other formats in one run, and ``--int8`` must be refused before any work, in one line.
"""
from __future__ import annotations

import json
import time

import pytest

from conftest import assert_clean_error, run_cli

pytest.importorskip("pnnx")
pytest.importorskip("ncnn")


@pytest.fixture(scope="module")
def files(tmp_path_factory, mobilenet_v2_weights, photos_dir):
    out = tmp_path_factory.mktemp("ncnn")
    proc = run_cli("export", "mobilenet_v2", "--weights", mobilenet_v2_weights, "--format", "onnx", "--format", "ncnn",
                   "--fp16", "--calib", photos_dir, "--out", out, "--no-record", "--json", timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, {(a["format"], a["precision"]): a for a in json.loads(proc.stdout)["artifacts"]}


@pytest.mark.slow
def test_ncnn_fp32_fp16_validated(files):
    out, arts = files
    for precision in ("fp32", "fp16"):
        art = arts[("ncnn", precision)]
        acc = art["meta"]["accuracy"]
        assert acc["samples"] == 39 and acc["cosine_mean"] >= 0.9999, acc
        if precision == "fp32":  # computes what torch computes (115 dB SQNR measured)
            assert acc["top1_agreement"] == 1.0 and acc["cosine_min"] >= 0.9999, acc
        else:  # fp16 weights (40 dB): measured 38/39, the one flip a near tie (tuxpaint/lion.png)
            assert round(acc["top1_agreement"] * 39) >= 39 - 3 and acc["cosine_min"] >= 0.999, acc
        assert art["path"].endswith(f"mobilenet_v2_{precision}.ncnn.param")
        assert art["meta"]["weights_dtype_on_disk"] == precision
    # beside the OpenVINO-style names: the .bin of ncnn never clashes with another format's
    assert (out / "mobilenet_v2_fp16.ncnn.bin").stat().st_size < 0.6 * (out / "mobilenet_v2_fp32.ncnn.bin").stat().st_size
    assert ("onnx", "fp16") not in arts  # --fp16 with --format ncnn and no tflite: ncnn only


@pytest.mark.slow
def test_ncnn_bench_beside_onnx_and_inspect(files):
    _, arts = files
    paths = [arts[k]["path"] for k in (("onnx", "fp32"), ("ncnn", "fp32"), ("ncnn", "fp16"))]
    proc = run_cli("bench", *paths, "--threads", "1", "--min-runs", "5", "--min-seconds", "0.2", "--processes", "1",
                   "--no-record", "--json", timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert sorted(r["engine"] for r in doc["results"]) == ["ncnn", "ncnn", "onnxruntime"]
    assert all(r["file_size_bytes"] > 7e6 for r in doc["results"] if r["engine"] == "ncnn")  # .param + .bin
    proc = run_cli("inspect", arts[("ncnn", "fp32")]["path"], "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["inputs"][0]["shape"] == [1, 3, 224, 224] and doc["operators"]["Convolution"] >= 35


def test_ncnn_int8_refused_up_front(tmp_path):
    start = time.monotonic()
    proc = run_cli("export", "mobilenet_v2", "--format", "ncnn", "--int8", "--out", tmp_path / "out", "--no-record")
    line = assert_clean_error(proc, "ncnn int8", "ncnn2int8")
    assert "neither the pnnx nor the ncnn wheel" in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert time.monotonic() - start < 120  # refused before data, folding or conversion


def test_runner_runs_ncnn_with_numpy_and_ncnn_only(tmp_path):
    """The device runner on an ncnn model with torch, tensorflow, onnx, ... poisoned (as on a device)."""
    import torch

    from edgekit.formats.ncnn import convert_with_pnnx
    from test_runner import SHORT, run_isolated

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(8, 10)).eval()
    staging = tmp_path / "staging"
    staging.mkdir()
    param = tmp_path / "tiny.ncnn.param"
    convert_with_pnnx(net, (1, 3, 32, 32), param, staging, fp16=False)
    out = tmp_path / "result.json"
    proc, iso = run_isolated(tmp_path, ["--model", param, *SHORT, "--json-out", out])
    assert iso["code"] in (0, None), proc.stderr
    assert iso["loaded"] == [], f"runner imported {iso['loaded']}"
    doc = json.loads(out.read_text())
    assert doc["engine"] == "ncnn" and doc["input"]["shape"] == [1, 3, 32, 32]
    assert doc["file_size_bytes"] == param.stat().st_size + param.with_suffix(".bin").stat().st_size
