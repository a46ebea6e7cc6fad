"""ONNX files: the opset edgekit writes, torch -> ONNX and Keras -> ONNX (one checked file, named input).

Input layout: a file takes NCHW (torch's) or NHWC (Keras', TFLite's) images, as the user chooses;
``nhwc`` on a torch module puts one Transpose at the input, ``nchw`` on a Keras model has
tf2onnx take NCHW (its transpose optimizer then removes the input Transpose altogether).
"""
from __future__ import annotations

import warnings
from pathlib import Path

from .._optional import require
from ..errors import UnsupportedError, first_line

OPSET = 17  # the legacy TorchScript exporter: 1 s for MobileNetV2 vs 7 s for dynamo, same graph
INPUT_NAME, OUTPUT_NAME = "input", "logits"


def export_torch_to_onnx(module, input_shape, path: Path, nhwc: bool = False) -> None:
    """Write ``module`` (dynamic batch; NHWC input with ``nhwc``) to ``path``, checked with onnx.checker."""
    import torch

    onnx = require("onnx", extra="onnx")
    example = torch.zeros(*input_shape)
    if nhwc:
        module, example = _NhwcInput(module), example.permute(0, 2, 3, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                module, (example,), str(path), dynamo=False, opset_version=OPSET,
                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            )
        except OSError:
            raise  # the disk (full, read-only), not the model: the CLI says so in one line
        except Exception as exc:  # the exporter raises many types; say which layer/op failed
            raise UnsupportedError(f"torch.onnx could not export this model: {first_line(exc)}") from None
    model = onnx.load(str(path))
    onnx.checker.check_model(model)


def _NhwcInput(module):
    import torch

    class NhwcInput(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x.permute(0, 3, 1, 2))

    return NhwcInput(module).eval()


def export_keras_to_onnx(model, size: int, path: Path, nchw: bool = False) -> None:
    """Write a Keras model taking (N, size, size, C) images to ``path`` with tf2onnx (dynamic
    batch; NCHW input with ``nchw``), checked with onnx.checker. Keras 3's own
    ``model.export(format="onnx")`` is tf2onnx too, without the layout choice."""
    from .._optional import import_tf

    tf = import_tf()
    onnx = require("onnx", extra="onnx")
    tf2onnx = require("tf2onnx", extra="keras")
    channels = int(model.inputs[0].shape[-1] or 3)
    spec = (tf.TensorSpec((None, size, size, channels), tf.float32, name=INPUT_NAME),)
    forward = tf.function(lambda x: model(x, training=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            proto, _ = tf2onnx.convert.from_function(forward, input_signature=spec, opset=OPSET,
                                                     inputs_as_nchw=[INPUT_NAME] if nchw else None)
        except Exception as exc:  # tf2onnx raises many types; the first line names the op
            raise UnsupportedError(f"tf2onnx could not convert this Keras model: {first_line(exc)}") from None
    _rename_output(proto, OUTPUT_NAME)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def _rename_output(proto, name: str) -> None:
    old = proto.graph.output[0].name
    for node in proto.graph.node:
        node.output[:] = [name if o == old else o for o in node.output]
        node.input[:] = [name if i == old else i for i in node.input]
    proto.graph.output[0].name = name
