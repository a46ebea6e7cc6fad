"""ncnn (.param/.bin via pnnx) of MobileNetV2 with torchvision's weights: fp32 and fp16, on the real photos.

fp32 and fp16 must both agree with float on every held-out photo of both halves, every photo's
logit cosine >= 0.9999. fp16 keeps the smallest 0.5% of the weights in fp32 (formats/ncnn_bin.py):
all-fp16 weights measured 40 dB, 77/78, cosine min 0.99978 (tuxpaint/lion.png flips; its float
top-1/top-2 gap is 0.012 logit); the shipped fp16 file 56.8 dB, 78/78, lion's gap 0.011 in it.
The file is rounded at export and run in fp32 (ncnn's fp32 differs from torch by <= 2e-5 logit
here), so a flip of lion on another CPU would need ~500x that: the figures hold there too.
Both files are benchmarked beside ONNX, and ``--int8`` must be refused before any work, in one line.
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
def test_ncnn_fp32_fp16_agree_on_every_held_out_photo(files, photo_halves):
    out, arts = files
    for precision in ("fp32", "fp16"):
        art = arts[("ncnn", precision)]
        # half A: held out by the export; half B: the photos it calibrated on (no ncnn file depends on them)
        proc = run_cli("validate", art["path"], "--data", photo_halves["B"][1], "--json", timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        for acc in (art["meta"]["accuracy"], json.loads(proc.stdout)):
            assert acc["samples"] == 39 and acc["top1_agreement"] == 1.0, acc  # measured 39/39 + 39/39 both
            assert acc["cosine_min"] >= 0.9999 and acc["sqnr_db"] >= (100 if precision == "fp32" else 50), acc
        assert art["path"].endswith(f"mobilenet_v2_{precision}.ncnn.param")
        assert art["meta"]["weights_dtype_on_disk"] == precision and "fp32 storage" in art["meta"]["runtime_precision"]
    meta = arts[("ncnn", "fp16")]["meta"]  # measured: 11 of 53 blobs fp32 (stem, first dw convs), 0.41%
    assert meta["fp32_weight_blobs"][:2] == ["convclip_0", "convdwclip_0"] and meta["fp32_weight_fraction"] <= 0.005
    # beside the OpenVINO-style names: the .bin of ncnn never clashes with another format's
    size = {p: (out / f"mobilenet_v2_{p}.ncnn.bin").stat().st_size for p in ("fp16", "fp32")}
    assert size["fp16"] < 0.51 * size["fp32"], size  # measured 7.04 MB / 13.95 MB
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
    assert {r["precision_hint"] for r in doc["results"] if r["engine"] == "ncnn"} == {"f32"}
    proc = run_cli("inspect", arts[("ncnn", "fp32")]["path"], "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["inputs"][0]["shape"] == [1, 3, 224, 224] and doc["operators"]["Convolution"] >= 35
    assert doc["verdict"]["precision"] == "fp32 weights" and doc["tensor_dtypes"] == {"float32": 53}
    proc = run_cli("inspect", arts[("ncnn", "fp16")]["path"])
    assert proc.returncode == 0, proc.stderr
    assert "verdict: fp16 weights, 11 of 53 weight blobs fp32" in proc.stdout
    assert "fp32 weight blobs: convclip_0, convdwclip_0," in proc.stdout and "use_fp16_storage" in proc.stdout


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


def test_fp16_keeps_the_smallest_blobs_fp32_and_falls_back_to_pnnx(tmp_path):
    """Mixed fp16/fp32 blobs load in ncnn and compute the module; a layer edgekit cannot walk
    (PReLU's slopes) leaves pnnx's all-fp16 weights, said in the facts."""
    import numpy as np
    import torch

    from edgekit.formats.ncnn import convert_with_pnnx
    from edgekit.formats.ncnn_bin import read_blobs
    from edgekit.runtime_bench.engines import open_engine

    torch.manual_seed(0)
    conv = [torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()]
    for name, net in (("mixed", torch.nn.Sequential(*conv, torch.nn.Linear(8, 6000))),  # conv: 216 of 48216 weights
                      ("prelu", torch.nn.Sequential(*conv[:1], torch.nn.PReLU(8), *conv[2:], torch.nn.Linear(8, 10)))):
        (tmp_path / name).mkdir()
        param = tmp_path / f"{name}.ncnn.param"
        facts = convert_with_pnnx(net.eval(), (1, 3, 32, 32), param, tmp_path / name, fp16=True)
        if name == "prelu":
            assert facts["fp16_writer"].startswith("pnnx") and "PReLU" in facts["fp16_writer"], facts
            continue
        blobs, _, why = read_blobs(param, param.with_suffix(".bin"))
        assert why is None and [b.dtype for b in blobs] == ["fp32", "fp16"], (why, blobs)
        assert facts["fp32_weight_blobs"] == [blobs[0].layer]
        x = torch.randn(2, 3, 32, 32)
        with open_engine(param) as eng:
            got = eng.run(x.numpy())
        want = net(x).detach().numpy()
        assert np.abs(got - want).max() < 2e-3 * np.abs(want).max()
