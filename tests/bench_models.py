"""Tiny model files for the runner/bench/db/report tests (built once per session, a few seconds).

- tiny.onnx: conv net 3x32x32 -> 10 logits (torch.onnx, dynamic batch)
- tiny.xml/.bin: the same graph as OpenVINO IR
- relu.onnx (relu_onnx): one Relu, for tests that need any valid model file
- tiny_fp32.tflite (NHWC, float I/O) and tiny_int8.tflite (int8 input and output), built by the
  TF converter in a subprocess so tensorflow never loads into the test process.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
RUNNER = SRC / "edgekit" / "runtime_bench" / "runner.py"
_cache: dict[str, dict[str, Path]] = {}

_TFLITE_SCRIPT = r"""
import sys, numpy as np, tensorflow as tf
out = sys.argv[1]
tf.random.set_seed(0)
inp = tf.keras.Input((32, 32, 3), batch_size=1)
x = tf.keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inp)
x = tf.keras.layers.GlobalAveragePooling2D()(x)
model = tf.keras.Model(inp, tf.keras.layers.Dense(10)(x))
conv = tf.lite.TFLiteConverter.from_keras_model(model)
open(out + "/tiny_fp32.tflite", "wb").write(conv.convert())
rng = np.random.default_rng(0)
conv = tf.lite.TFLiteConverter.from_keras_model(model)
conv.optimizations = [tf.lite.Optimize.DEFAULT]
conv.representative_dataset = lambda: ([rng.standard_normal((1, 32, 32, 3)).astype(np.float32)] for _ in range(20))
conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
conv.inference_input_type = tf.int8
conv.inference_output_type = tf.int8
open(out + "/tiny_int8.tflite", "wb").write(conv.convert())
"""


def env(**extra) -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), e.get("PYTHONPATH")]))
    e.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    e.update(extra)
    return e


def tiny_models(tmp_path_factory) -> dict[str, Path]:
    if _cache:
        return _cache["models"]
    import torch

    from edgekit.formats.onnx import export_torch_to_onnx

    d = tmp_path_factory.mktemp("tiny_models")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10)).eval()
    models = {"onnx": d / "tiny.onnx"}
    export_torch_to_onnx(net, (1, 3, 32, 32), models["onnx"])
    try:
        import openvino as ov

        ov.save_model(ov.convert_model(str(models["onnx"])), str(d / "tiny.xml"), compress_to_fp16=False)
        models["openvino"] = d / "tiny.xml"
    except ImportError:
        pass
    proc = subprocess.run([sys.executable, "-c", _TFLITE_SCRIPT, str(d)], capture_output=True, text=True,
                          env=env(), timeout=300)
    if proc.returncode == 0:
        models["tflite"] = d / "tiny_fp32.tflite"
        models["tflite_int8"] = d / "tiny_int8.tflite"
    _cache["models"] = models
    return models


def relu_onnx(folder: Path) -> Path:
    """folder/relu.onnx: one Relu, 1x4 -> 1x4, made with onnx.helper in milliseconds (no torch)."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    path = Path(folder) / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


def forever_onnx(path: Path) -> Path:
    """A model whose one inference never ends: a Loop of 2**62 iterations."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    vi = helper.make_tensor_value_info
    body = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["c_out"]), helper.make_node("Add", ["x_in", "one"], ["x_out"])], "body",
        [vi("i", TensorProto.INT64, []), vi("c", TensorProto.BOOL, []), vi("x_in", TensorProto.FLOAT, [1, 4])],
        [vi("c_out", TensorProto.BOOL, []), vi("x_out", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(np.ones((1, 4), np.float32), "one")])
    graph = helper.make_graph([helper.make_node("Loop", ["M", "cond", "x"], ["y"], body=body)], "forever",
                              [vi("x", TensorProto.FLOAT, [1, 4])], [vi("y", TensorProto.FLOAT, [1, 4])],
                              [numpy_helper.from_array(np.array(2 ** 62, np.int64), "M"),
                               numpy_helper.from_array(np.array(True), "cond")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


def processes_using(path: Path) -> list[int]:
    """Pids of live processes whose command line names ``path`` (orphans left by a test)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if str(path).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


def block_modules_dir(tmp_path: Path, *names: str) -> Path:
    """A folder to put first on PYTHONPATH so that importing each of ``names`` fails (a missing runtime)."""
    d = tmp_path / "blocked"
    for n in names:
        (d / n).mkdir(parents=True, exist_ok=True)
        (d / n / "__init__.py").write_text(f"raise ModuleNotFoundError('blocked for a test', name={n!r})\n")
    return d
