"""Weights no x86 int8 kernel can saturate, so an int8 file computes the same on every CPU.

x86 CPUs without VNNI (AVX2, AVX-512F: AMD Zen 2/3, Intel before Cascade Lake) multiply uint8
activations by int8 weights with VPMADDUBSW, which adds each pair of products into an int16
and saturates at 32767 (onnxruntime's MLAS, OpenVINO's oneDNN). A uint8 activation near 255 is
what a signed tensor looks like after its zero point (the image input, and every residual
bottleneck MobileNetV2's expansion convs read), and two of them times weights near 127 overflow.
Measured on an AMD EPYC with AVX2 only (docs/int8_accuracy.md, section 8): MobileNetV2's int8
ONNX file gives 7.0 dB logit SQNR there against 19.9 dB computed exactly; OpenVINO's with
NNCF's default fix (first layer only) 17.1 dB. VNNI CPUs, ARM and TFLite's XNNPACK kernels do
not saturate.

The fix, for the layers whose input is signed on the calibration images (where the overflow
was measured; ``SATURATION_SAFE_POLICY``): GPTQ rounds their weights to a grid whose every pair
of neighbouring integers sums to at most 128 in magnitude (1x1 convolutions and matrix products)
or to 7 bits (|q| <= 64, the fix ONNX Runtime's and OpenVINO's documentation give; other
kernels), quantize/weight_grid.py. The converters read each channel's grid back from the weights
and quantize with exactly that scale, so no integer changes: ONNX Runtime through per-channel
scale overrides, OpenVINO by rewriting NNCF's compressed int8 constants.
"""
from __future__ import annotations

import numpy as np

from .weight_grid import reduced_grid_scales, reduced_row_steps

SATURATION_SAFE_POLICY = "signed-inputs"  # what the ONNX and OpenVINO exporters ask of the int8 preparation
SATURATION_SAFE_WHY = (
    "layers with signed inputs have weights no x86 int8 kernel can saturate: |q_i| + |q_i+1| <= 128 "
    "for 1x1 convolutions and matrix products, |q| <= 64 for other kernels; CPUs without VNNI add "
    "pairs of uint8 x int8 products into an int16 (quantize/saturation.py)")  # said in both sidecars


def onnx_saturation_safe_overrides(model) -> dict[str, list[dict]]:
    """ORT TensorQuantOverrides giving each Conv/Gemm weight the preparation put on a reduced grid
    its per-channel scales (axis 0: Conv weights, and Gemm's transB=1 weights), zero point 0."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    out = {}
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm") or len(node.input) < 2 or node.input[1] not in inits:
            continue
        if node.op_type == "Gemm" and not any(a.name == "transB" and a.i for a in node.attribute):
            continue  # (in, out) weights: channels on axis 1, never made by the torch export
        scales = reduced_grid_scales(numpy_helper.to_array(inits[node.input[1]]))
        if scales is not None:
            out[node.input[1]] = [{"axis": 0, "scale": np.float32(s), "zero_point": np.int8(0)} for s in scales]
    return out


def _weight_rows(op):
    """(float weight constant of a Convolution / GroupConvolution / MatMul as rows = output
    channels, or None)."""
    node = op.input_value(1).get_node()
    while node.get_type_name() != "Constant" and node.get_input_size():
        node = node.input_value(0).get_node()
    if node.get_type_name() != "Constant":
        return None
    w = node.get_data().astype(np.float32)
    kind = op.get_type_name()
    if kind == "GroupConvolution" and w.ndim >= 3:
        return w.reshape(w.shape[0] * w.shape[1], -1)
    if kind == "Convolution" or (kind == "MatMul" and w.ndim == 2 and op.get_attributes().get("transpose_b")):
        return w.reshape(w.shape[0], -1)
    return None


def openvino_weight_grids(model) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{friendly name: (Q per output channel, float weights as rows)} of the float IR's layers the
    preparation put on a reduced grid (quantize/weight_grid.py); empty for a model quantized
    unprepared, where NNCF's own overflow fix stays on."""
    grids = {}
    for op in model.get_ordered_ops():
        if op.get_type_name() in ("Convolution", "GroupConvolution", "MatMul"):
            rows = _weight_rows(op)
            steps = None if rows is None else reduced_row_steps(rows)
            if steps is not None:
                grids[op.get_friendly_name()] = (steps, rows)
    return grids


def openvino_saturation_safe_weights(model, grids: dict) -> list[str]:
    """Give the layers of ``grids`` (openvino_weight_grids of the float IR) their prepared integers
    back: NNCF compresses every weight to 8 bits (int8 Constant -> Convert -> Multiply by a scale
    per output channel, mostly max|w| / 127), which re-rounds a reduced grid's values; the float
    weights are exact multiples of max|w| / Q, so each channel gets round(w / (max|w| / Q)) and
    that scale (a channel on no grid keeps NNCF's). Returns the names of the layers changed.
    NNCF's own overflow fix is off: this is the same fix on edgekit's choice of layers, and GPTQ's
    integers survive."""
    from .._optional import require

    ov = require("openvino", extra="openvino")
    changed = []
    for op in model.get_ordered_ops():
        if op.get_friendly_name() not in grids or op.get_type_name() not in ("Convolution", "GroupConvolution", "MatMul"):
            continue
        steps, rows = grids[op.get_friendly_name()]
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
        scale = scale_node.get_data().astype(np.float32)
        if q.size != rows.size or scale.size != len(rows):
            continue  # not one scale per output channel: leave NNCF's file as it is
        peak = np.abs(rows).max(1)
        mine = (steps > 0) & (peak > 0)
        grid = np.where(mine, peak / np.where(steps > 0, steps, 1), 1.0)
        k = np.where(mine[:, None], np.round(rows / grid[:, None]), q.reshape(rows.shape))
        new_scale = np.where(mine, grid, scale.reshape(-1)).astype(np.float32)
        convert.input(0).replace_source_output(ov.op.Constant(k.reshape(q.shape).astype(np.int8)).output(0))
        mul.input(1).replace_source_output(ov.op.Constant(new_scale.reshape(scale.shape)).output(0))
        changed.append(op.get_friendly_name())
    return changed
