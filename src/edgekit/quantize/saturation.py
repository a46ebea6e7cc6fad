"""7-bit weights where x86 int8 kernels would saturate, so an int8 file computes the same on every CPU.

x86 CPUs without VNNI (AVX2, AVX-512F: AMD Zen 2/3, Intel before Cascade Lake) multiply uint8
activations by int8 weights with VPMADDUBSW, which adds each pair of products into an int16
and saturates at 32767 (onnxruntime's MLAS, OpenVINO's oneDNN). A uint8 activation near 255 is
what a signed tensor looks like after its zero point (the image input, and every residual
bottleneck MobileNetV2's expansion convs read), and two of them times weights near 127 overflow.
Measured on an AMD EPYC with AVX2 only (docs/int8_accuracy.md, section 8): MobileNetV2's int8
ONNX file gives 7.0 dB logit SQNR there against 19.9 dB computed exactly; OpenVINO's with
NNCF's default fix (first layer only) 17.1 dB. VNNI CPUs, ARM and TFLite's XNNPACK kernels do
not saturate.

The fix is the one ONNX Runtime's and OpenVINO's documentation give (weights in 7 bits:
|q| <= 64, so 255 * 64 * 2 = 32640 fits), applied only to layers whose input is signed on the
calibration images (quantize/weight_rounding.py, ``seven_bit="signed-inputs"``): those are where
the overflow was measured, and the layers reading ReLU outputs keep 8 bits (0.4 dB better than
7 bits everywhere). GPTQ puts those layers' weights on the 7-bit grid (max|w| / 64); the
converters find them by that grid and quantize them with the 7-bit range, so no integer changes.
"""
from __future__ import annotations

import numpy as np

from .weight_rounding import QMAX, QMAX_7BIT

SEVEN_BIT_POLICY = "signed-inputs"  # what ONNX and OpenVINO exporters ask of the int8 preparation
SEVEN_BIT_WHY = ("weights of layers with signed inputs in 7 bits (|q| <= 64): x86 CPUs without VNNI "
                 "saturate 8-bit ones (quantize/saturation.py)")  # said in both sidecars


def on_7bit_grid(weight: np.ndarray) -> bool:
    """90% of the output channels (axis 0) of ``weight`` lie on their 7-bit grid (k * max|w| / 64):
    the int8 preparation put them there (the rest the converter rounds to it). A channel on both
    grids (only 0 and +-max) is exact in either."""
    rows = np.asarray(weight, np.float64).reshape(weight.shape[0], -1)
    peak = np.abs(rows).max(1, keepdims=True)
    scale = np.where(peak > 0, peak / QMAX_7BIT, 1.0)
    steps = rows / scale
    return bool(np.any(peak > 0)) and float(np.mean(np.all(np.abs(steps - np.round(steps)) < 1e-3, 1))) >= 0.9


def onnx_7bit_overrides(model) -> dict[str, list[dict]]:
    """ORT TensorQuantOverrides giving each Conv/Gemm weight on the 7-bit grid the reduced range
    ([-64, 64]); per channel on axis 0 (Conv weights, and Gemm's transB=1 weights)."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    out = {}
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm") or len(node.input) < 2 or node.input[1] not in inits:
            continue
        if node.op_type == "Gemm" and not any(a.name == "transB" and a.i for a in node.attribute):
            continue  # (in, out) weights: channels on axis 1, never made by the torch export
        if on_7bit_grid(numpy_helper.to_array(inits[node.input[1]])):
            out[node.input[1]] = [{"reduce_range": True, "axis": 0}]
    return out


def openvino_has_7bit_weights(model) -> bool:
    """Whether the float IR has conv weights the preparation put on the 7-bit grid; without them
    (a model quantized unprepared) NNCF's own overflow fix (first layer) stays on."""
    for op in model.get_ordered_ops():
        if op.get_type_name() in ("Convolution", "GroupConvolution"):
            node = op.input_value(1).get_node()
            while node.get_type_name() != "Constant" and node.get_input_size():
                node = node.input_value(0).get_node()
            if node.get_type_name() == "Constant":
                w = node.get_data().astype(np.float32)
                if w.ndim >= 2 and np.abs(w).max() > 0 and on_7bit_grid(w.reshape(w.shape[0], -1)):
                    return True
    return False


def openvino_7bit_weights(model) -> list[str]:
    """Put back on the 7-bit grid the weights NNCF compressed to 8 bits (int8 Constant -> Convert
    -> Multiply by the per-channel scale max|w| / 127) where the preparation had them on it:
    NNCF re-rounded each 7-bit value k * max / 64 to the nearest 8-bit step, which is
    round(k * 127 / 64), so k is recovered exactly. Such a layer gets k as its int8 constant and
    max / 64 as its scale; return the names of the layers changed. NNCF's own overflow fix is
    off: this is the same fix on edgekit's choice of layers, and GPTQ's integers survive."""
    from .._optional import require

    ov = require("openvino", extra="openvino")
    changed = []
    for op in model.get_ordered_ops():
        if op.get_type_name() not in ("Convolution", "GroupConvolution", "MatMul"):
            continue
        mul = op.input_value(1).get_node()
        if mul.get_type_name() != "Multiply":
            continue
        convert, scale_node = (mul.input_value(i).get_node() for i in (0, 1))
        if convert.get_type_name() != "Convert" or scale_node.get_type_name() != "Constant":
            continue
        const = convert.input_value(0).get_node()
        if const.get_type_name() != "Constant" or const.get_element_type() != ov.Type.i8:
            continue
        q = const.get_data().astype(np.int32)
        k = np.round(q * QMAX_7BIT / QMAX).astype(np.int32)
        # |k * 127 / 64 - q| <= 1/2 on the grid (k = +-32 falls on 63.5, which float error rounds
        # either way). A layer counts when 90% of its channels are on it: NNCF scales a channel of
        # tiny weights its own way (seen on one of MobileNetV2's 960), which is then re-rounded.
        rows = (np.abs(k * QMAX / QMAX_7BIT - q) <= 0.5 + 1e-6).reshape(q.shape[0], -1).all(1)
        if np.abs(q).max() <= QMAX_7BIT or rows.mean() < 0.9:
            continue  # already within 7 bits, or not a layer the preparation put on the 7-bit grid
        scale = scale_node.get_data().astype(np.float32) * (QMAX / QMAX_7BIT)
        convert.input(0).replace_source_output(ov.op.Constant(k.astype(np.int8)).output(0))
        mul.input(1).replace_source_output(ov.op.Constant(scale).output(0))
        changed.append(op.get_friendly_name())
    return changed
