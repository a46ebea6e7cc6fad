"""`edgekit inspect`: .tflite (any file, custom ops included) and .onnx, including the int8 verdict."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")

from conftest import run_cli  # noqa: E402
from edgekit.inspect import inspect_file  # noqa: E402
from tflite_helpers import small_export, with_custom_op  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("inspect")
    int8 = small_export(out, precision="int8").path
    fp32 = small_export(out, precision="fp32").path
    return {"int8": int8, "fp32": fp32, "custom": with_custom_op(int8, out / "custom.tflite")}


def test_int8_tflite_verdict(files):
    r = inspect_file(files["int8"])
    assert r["format"] == "tflite" and r["size_bytes"] == files["int8"].stat().st_size
    assert r["verdict"]["precision"] == "int8" and r["verdict"]["fully_int8"]
    assert r["verdict"]["io_dtypes"] == ["INT8"]
    assert r["weight_granularity"] == {"per-channel": 53}
    assert r["operators"]["CONV_2D"] == 35 and r["operators"]["DEPTHWISE_CONV_2D"] == 17
    assert r["transpose_ops"] == 0 and r["custom_ops"] == {}
    assert r["tensor_dtypes"]["INT8"] > 100
    assert r["inputs"][0]["quantization"]["scale"][0] > 0
    assert r["metadata"]["tflite_metadata"]["labels"] == 1000


def test_float_tflite_verdict(files):
    r = inspect_file(files["fp32"])
    assert r["verdict"]["precision"] == "float32" and not r["verdict"]["fully_int8"]
    assert r["weight_granularity"] == {"none": 53}


def test_custom_op_is_reported_not_fatal(files):
    r = inspect_file(files["custom"])
    assert r["custom_ops"] == {"EdgekitTestOp": 1}
    assert r["operators"]["CUSTOM:EdgekitTestOp"] == 1
    assert not r["verdict"]["fully_int8"] and "EdgekitTestOp" in r["verdict"]["summary"]
    proc = run_cli("inspect", files["custom"])
    assert proc.returncode == 0, proc.stderr
    assert "custom ops: EdgekitTestOp x1" in proc.stdout and "verdict: int8" in proc.stdout


def test_onnx_int8_runtime_view(tmp_path):
    from dataclasses import replace

    import numpy as np

    from edgekit.data import ImageSet
    from edgekit.export import EXPORTERS, ExportRequest
    from edgekit.quantize import QuantConfig
    from edgekit.zoo import get_model

    loaded = get_model("mobilenet_v2")
    loaded.card = replace(loaded.card, preprocess=replace(loaded.card.preprocess, crop=48, resize=56))
    calib = ImageSet(np.random.default_rng(0).standard_normal((2, 3, 48, 48)).astype(np.float32), ["a", "b"])
    onnx = EXPORTERS.get("onnx")
    int8 = onnx.export(ExportRequest(loaded, tmp_path, "int8", calibration=calib, quant=QuantConfig(samples=2))).path
    fp32 = onnx.export(ExportRequest(loaded, tmp_path, "fp32")).path
    r = inspect_file(int8)
    assert r["static"]["qdq_compute_ops"] == 53 and r["static"]["float_compute_ops"] == 0
    assert r["static"]["weight_granularity"] == {"per-channel": 53}
    # ONNX Runtime's own graph decides: on this random-init model it keeps some Convs in
    # float (the real-weights file runs 53/53 int8, see test_tflite_export).
    rt = r["runtime"]
    n_int8, n_float = sum(rt["int8_compute_ops"].values()), sum(rt["float_compute_ops"].values())
    assert n_int8 + n_float == 53 and n_int8 > 0 and "QLinearConv" in rt["int8_compute_ops"], rt
    assert r["verdict"]["fully_int8"] == (n_float == 0)
    assert f"{n_int8}/53" in r["verdict"]["summary"]
    f = inspect_file(fp32)
    assert f["verdict"]["precision"] == "float32" and sum(f["runtime"]["float_compute_ops"].values()) == 53
    proc = run_cli("inspect", int8, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["runtime"]["int8_compute_ops"]
