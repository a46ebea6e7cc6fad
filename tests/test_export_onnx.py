"""`edgekit export mobilenet_v2 --int8` end to end, ONNX side: both files, really int8, small,
self-describing, and measured against the float model on held-out real photos."""
from __future__ import annotations

import json

from conftest import run_cli

PARAMS = 3_504_872


def _artifact(doc, fmt, precision):
    [a] = [a for a in doc["artifacts"] if a["format"] == fmt and a["precision"] == precision]
    return a


def test_writes_fp32_and_int8_onnx_with_sidecars(mobilenet_v2_export):
    out, doc = mobilenet_v2_export
    for precision in ("fp32", "int8"):
        path = out / f"mobilenet_v2_{precision}.onnx"
        assert path.is_file()
        side = json.loads((out / f"mobilenet_v2_{precision}.onnx.edgekit.json").read_text())
        assert side["card"]["name"] == "mobilenet_v2"
        assert len(side["source"]["weights_sha256"]) == 64
        assert side["meta"]["tools"]["onnxruntime"]
        assert side["meta"]["fold_bn"]["folded"] == 52
    side = json.loads((out / "mobilenet_v2_int8.onnx.edgekit.json").read_text())
    assert side["meta"]["calibration"]["count"] > 0
    assert not list(out.glob("*.part")) and not list(out.glob(".*"))


def test_int8_onnx_runs_every_conv_and_gemm_in_int8(mobilenet_v2_export):
    out, _ = mobilenet_v2_export
    proc = run_cli("inspect", out / "mobilenet_v2_int8.onnx", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["runtime"]["float_compute_ops"] == {}
    assert info["runtime"]["int8_compute_ops"] == {"QLinearConv": 52, "QGemm": 1}
    assert info["verdict"]["fully_int8"] is True
    assert "BatchNormalization" not in info["operators"]


def test_int8_onnx_size_is_about_one_byte_per_parameter(mobilenet_v2_export):
    out, _ = mobilenet_v2_export
    size = (out / "mobilenet_v2_int8.onnx").stat().st_size
    assert size <= 1.15 * PARAMS + 0.5e6, size


def test_fp32_onnx_matches_float_model_exactly(mobilenet_v2_export):
    _, doc = mobilenet_v2_export
    acc = _artifact(doc, "onnx", "fp32")["meta"]["accuracy"]
    assert acc["top1_agreement"] == 1.0
    assert acc["cosine_mean"] > 0.99999


def test_int8_onnx_agrees_with_float_on_held_out_photos(mobilenet_v2_export):
    _, doc = mobilenet_v2_export
    acc = _artifact(doc, "onnx", "int8")["meta"]["accuracy"]
    assert acc["samples"] >= 30
    # Agreement is asserted pooled over both halves (test_onnx_int8_accuracy.py, int8_pooled.py):
    # on 39 photos one near-tie is 2.6 points. This half alone: the steadier figures only.
    assert acc["cosine_mean"] >= 0.98, acc
    assert acc["top5_agreement"] >= 0.90, acc


def test_validate_on_other_photos(mobilenet_v2_export, split_photos):
    out, _ = mobilenet_v2_export
    proc = run_cli("validate", out / "mobilenet_v2_int8.onnx", "--data", split_photos[1], "--json")
    assert proc.returncode == 0, proc.stderr
    again = json.loads(proc.stdout)
    assert again["samples"] == len(list(split_photos[1].iterdir()))
    assert again["cosine_mean"] >= 0.97
    assert again["engine"] == "onnxruntime"
