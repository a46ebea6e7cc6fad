"""Tiny model files for the runner/bench/db/report tests (built once per session, a few seconds).

- tiny.onnx: conv net 3x32x32 -> 10 logits (torch.onnx, dynamic batch)
- tiny.xml/.bin: the same graph as OpenVINO IR
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


def block_modules_dir(tmp_path: Path, *names: str) -> Path:
    """A folder to put first on PYTHONPATH so that importing each of ``names`` fails (a missing runtime)."""
    d = tmp_path / "blocked"
    for n in names:
        (d / n).mkdir(parents=True, exist_ok=True)
        (d / n / "__init__.py").write_text(f"raise ModuleNotFoundError('blocked for a test', name={n!r})\n")
    return d
