"""PaddlePaddle models in: a zoo name with --framework paddle, a user's tutorial-style Paddle module
(module:factory), and the Paddle mistakes that would export a silently different network.

A Paddle model comes in through its torch twin (weights copied in layer order, checked to 1e-4 of
the logit range); every fp32 file must then equal the Paddle forward itself to 1e-4 of the
logit range on real photos.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_clean_error, run_cli

# Never imported here: Paddle crashes in a process that has loaded TensorFlow (tests/paddle_forward.py).
if importlib.util.find_spec("paddle") is None:
    pytest.skip("PaddlePaddle is not installed (pip install 'edgekit[paddle]')", allow_module_level=True)
torch = pytest.importorskip("torch")

HERE = Path(__file__).resolve().parent
ENV = {"PYTHONPATH": str(HERE)}


@pytest.fixture(scope="module")
def v1_weights(tmp_path_factory):
    """MobileNetV1 (no real checkpoint exists in the zoo) with random but non-trivial BatchNorm
    statistics: torchvision's init leaves BN at identity and the logits at a range of 1e-17."""
    from edgekit.zoo import get_model

    torch.manual_seed(0)
    module = get_model("mobilenet_v1").module
    from random_bn import randomize_statistics

    randomize_statistics(module)
    path = tmp_path_factory.mktemp("v1") / "mobilenet_v1.pth"
    torch.save(module.state_dict(), path)
    return path


def _photos(card_preprocess, photos_dir, n=8):
    from edgekit.data import load_image_set

    return load_image_set(photos_dir, card_preprocess).arrays[:n]


def _paddle_forward(model: tuple[str, str], x, tmp_path):
    """The Paddle forward of ``model`` = (spec, weights) on ``x``, run by tests/paddle_forward.py."""
    from conftest import REPO

    np.save(tmp_path / "x.npy", x)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(HERE)])}
    proc = subprocess.run([sys.executable, str(HERE / "paddle_forward.py"), *model, str(tmp_path / "x.npy"),
                           str(tmp_path / "paddle_out.npy")], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return np.load(tmp_path / "paddle_out.npy")


def _assert_files_equal_paddle(arts, model, photos_dir, tmp_path):
    from edgekit.export.artifact import Artifact
    from edgekit.runtime_bench.engines import open_engine

    first = next(iter(arts.values()))
    x = _photos(Artifact.load(first["path"]).model_card.preprocess, photos_dir)
    ref = _paddle_forward(model, x, tmp_path)
    assert ref.max() - ref.min() > 0.1  # a real spread of logits (not 1e-17), else a relative check proves nothing
    for (fmt, precision), art in arts.items():
        if precision != "fp32":
            continue
        with open_engine(art["path"]) as eng:
            got = eng.run(x)
        assert np.abs(got - ref).max() <= 1e-4 * (ref.max() - ref.min()), fmt


@pytest.mark.slow
def test_zoo_mobilenet_v1_from_paddle_to_onnx_and_tflite(tmp_path, v1_weights, photos_dir):
    proc = run_cli("export", "mobilenet_v1", "--framework", "paddle", "--weights", v1_weights, "--int8",
                   "--format", "onnx", "--format", "tflite", "--calib", photos_dir, "--out", tmp_path,
                   "--no-record", "--json", timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    arts = {(a["format"], a["precision"]): a for a in json.loads(proc.stdout)["artifacts"]}
    assert set(arts) == {("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"), ("tflite", "int8")}
    src = arts[("onnx", "fp32")]["source"]
    assert src["source_framework"] == "paddle" and src["torch_twin"] == "mobilenet_v1"
    for twin in (src["paddle_twin"], src["paddle_twin_from_torch"]):
        assert twin["relative_diff"] <= 1e-4 and twin["logit_range"] > 0.1, twin
    _assert_files_equal_paddle(arts, ("zoo:mobilenet_v1", str(v1_weights)), photos_dir, tmp_path)
    for fmt in ("onnx", "tflite"):  # random weights: int8 is validated like any file, loosely judged
        acc = arts[(fmt, "int8")]["meta"]["accuracy"]
        assert acc["samples"] == 39 and acc["cosine_mean"] > 0.9, (fmt, acc)


@pytest.mark.slow
def test_users_paddle_factory_exports(tmp_path, photos_dir):
    proc = run_cli("export", "paddle_factories:build_mobilenet_v1", "--format", "onnx", "--format", "openvino",
                   "--calib", photos_dir, "--out", tmp_path, "--no-record", "--json", env=ENV, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    arts = {(a["format"], a["precision"]): a for a in json.loads(proc.stdout)["artifacts"]}
    src = arts[("onnx", "fp32")]["source"]
    assert src["source_framework"] == "paddle" and src["user_model_kind"] == "paddle_factory"
    _assert_files_equal_paddle(arts, ("factory:build_mobilenet_v1", "-"), photos_dir, tmp_path)
    # validate rebuilds the float model from the factory the sidecar names (code: needs the flag)
    proc = run_cli("validate", arts[("onnx", "fp32")]["path"], "--trust-model-code", "--json", env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["top1_agreement"] == 1.0


def test_paddle_blocks_in_a_plain_list_refused(tmp_path):
    proc = run_cli("export", "paddle_factories:build_plain_list", "--format", "onnx", "--out", tmp_path,
                   "--no-record", env=ENV, timeout=300)
    line = assert_clean_error(proc, "plain Python list", "MobileNetV1.blocks (13 layers)", "LayerList")
    assert "registers neither their parameters nor their sublayers" in line


def test_paddle_factory_returning_something_else(tmp_path):
    proc = run_cli("export", "paddle_factories:build_not_a_layer", "--framework", "paddle", "--format", "onnx",
                   "--out", tmp_path, "--no-record", env=ENV, timeout=300)
    assert_clean_error(proc, "paddle_factories:build_not_a_layer", "dict", "paddle.nn.Layer")
    proc = run_cli("export", "user_model_factories:build_tiny", "--input-size", "32", "--framework", "paddle",
                   "--format", "onnx", "--out", tmp_path, "--no-record", env=ENV, timeout=300)
    assert_clean_error(proc, "--framework paddle", "not a paddle.nn.Layer")
