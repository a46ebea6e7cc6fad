"""A user's Keras MobileNetV2 (.keras) to ONNX and OpenVINO, fp32 and int8, against the torch route.

The Keras model is the zoo's Keras twin of MobileNetV2 with torchvision's ImageNet weights
copied in exactly (the zoo's weight transfer), saved by the user as ``user.keras``; the torch
route exports the same architecture and weights. Both calibrate on edgekit's half of the 78
real photos and are measured on the other 39: fp32 files must equal the Keras model to 1e-4 of
the logit range, int8 files must agree with float within 3 photos of the torch route's files.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli

pytest.importorskip("tf2onnx")
pytest.importorskip("openvino")
torch = pytest.importorskip("torch")

pytestmark = pytest.mark.slow
MARGIN = 3  # photos: int8 kernels differ between CPUs (AMD / Intel VNNI / AMX)


@pytest.fixture(scope="module")
def user_keras(tmp_path_factory, mobilenet_v2_weights):
    from edgekit.zoo import get_model
    from edgekit.zoo.keras import to_keras

    path = tmp_path_factory.mktemp("keras") / "user.keras"
    to_keras(get_model("mobilenet_v2", mobilenet_v2_weights)).module.save(path)
    return path


def _export(model, out, photos, *extra):
    proc = run_cli("export", model, "--format", "onnx", "--format", "openvino", "--int8", "--calib", photos,
                   "--out", out, "--no-record", "--json", *extra, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {(a["format"], a["precision"]): a for a in json.loads(proc.stdout)["artifacts"]}


@pytest.fixture(scope="module")
def routes(tmp_path_factory, user_keras, mobilenet_v2_weights, photos_dir):
    out = tmp_path_factory.mktemp("routes")
    keras = _export(user_keras, out / "keras", photos_dir)
    torch_route = _export("mobilenet_v2", out / "torch", photos_dir, "--weights", mobilenet_v2_weights)
    return keras, torch_route


def test_keras_fp32_files_equal_keras(routes, user_keras, photos_dir):
    import keras as K

    from edgekit.data import load_image_set
    from edgekit.export.artifact import Artifact
    from edgekit.runtime_bench.engines import open_engine

    keras, _ = routes
    art = keras[("onnx", "fp32")]
    acc = art["meta"]["accuracy"]
    assert acc["samples"] == 39 and acc["top1_agreement"] == 1.0
    assert art["source"]["framework"] == "keras" and art["meta"]["input_layout"] == "NHWC"
    assert art["meta"]["layout_converted"] is None
    images = load_image_set(photos_dir, Artifact.load(art["path"]).model_card.preprocess)
    model = K.models.load_model(user_keras, compile=False)
    ref = np.asarray(model(images.arrays[:8].transpose(0, 2, 3, 1), training=False))
    for fmt in ("onnx", "openvino"):
        with open_engine(keras[(fmt, "fp32")]["path"]) as eng:
            got = eng.run(images.arrays[:8])
        assert np.abs(got - ref).max() <= 1e-4 * (ref.max() - ref.min()), fmt


def test_keras_int8_matches_torch_route(routes):
    keras, torch_route = routes
    for fmt in ("onnx", "openvino"):
        k, t = keras[(fmt, "int8")]["meta"]["accuracy"], torch_route[(fmt, "int8")]["meta"]["accuracy"]
        n = k["samples"]
        assert n == t["samples"] == 39
        k_agree, t_agree = round(k["top1_agreement"] * n), round(t["top1_agreement"] * n)
        assert abs(k_agree - t_agree) <= MARGIN, (fmt, k_agree, t_agree)
        assert k["cosine_mean"] >= t["cosine_mean"] - 0.005, (fmt, k, t)
    prep = keras[("onnx", "int8")]["meta"]["int8_preparation"]
    assert prep["equalization"]["groups"] > 0 and prep["weight_rounding"]["layers"] == 53, prep


def test_keras_nchw_on_request(tmp_path, user_keras):
    import onnx

    proc = run_cli("export", user_keras, "--format", "onnx", "--input-layout", "nchw", "--out", tmp_path,
                   "--no-record", "--json", timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    art = json.loads(proc.stdout)["artifacts"][0]
    assert art["meta"]["input_layout"] == "NCHW" and art["meta"]["layout_converted"] == "NHWC->NCHW"
    assert art["meta"]["accuracy"]["top1_agreement"] == 1.0
    graph = onnx.load(art["path"]).graph
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim][1:] == [3, 224, 224]
    assert not [n for n in graph.node if n.op_type == "Transpose"]


def test_input_layout_needs_an_onnx_or_openvino_format(tmp_path, user_keras):
    from conftest import assert_clean_error

    proc = run_cli("export", user_keras, "--format", "tflite", "--input-layout", "nchw", "--out", tmp_path)
    assert_clean_error(proc, "--input-layout", "onnx")
