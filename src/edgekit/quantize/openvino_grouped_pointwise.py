"""Grouped 1x1 convolutions as dense 1x1 convolutions with block-diagonal weights, before NNCF.

Why: OpenVINO 2026.4's CPU plugin computes an int8 GroupConvolution with 1x1 kernels wrongly on
CPUs with AMX (Sapphire Rapids and later) when a group has more than 64 input channels: one such
layer alone has an output SQNR of about 0 dB against float, so ShuffleNetV1 as OpenVINO int8
agreed with float on 8.5% of images. The file was right: the same IR with its FakeQuantize ops
computed in fp32 agrees on 99.5%, and on the same machine capped at AVX512-VNNI
(ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI) the plugin's own int8 run of that file agrees on 99.5%.
Measured per layer and per model in docs/int8_accuracy.md ("OpenVINO's grouped 1x1 int8 on
AMX"; benchmarks/openvino_grouped_pointwise.py).

A dense convolution whose weights are zero off the diagonal blocks computes exactly the grouped
one (its fp32 output is bit-identical) and runs on the plugin's ordinary int8 kernels, which
are right on every ISA. It costs G times the multiply-adds of those layers and G times their
weight bytes; splitting into per-group convolutions plus a Concat instead was slower still
(ShuffleNetV1 g2 int8: 0.90-1.07 ms against 0.73 ms dense). Only layers with more than 64 input channels per group are
rewritten: below that the grouped kernel was right at every size tried, and faster. Applied to
every int8 IR, whatever CPU exports it, because the file is run on other machines.
"""
from __future__ import annotations

import numpy as np

# Grouped 1x1 int8 was right up to 64 input channels per group, wrong at 68, 72, 80, 96, 100
# (66, 70 and 71 came out right, so the kernel's fault is not a simple size threshold).
MAX_SAFE_GROUP_CHANNELS = 64


def densify_grouped_pointwise(model) -> list[str]:
    """Rewrite, in place, each non-depthwise grouped 1x1 convolution of ``model`` (an fp32
    ov.Model) with more than MAX_SAFE_GROUP_CHANNELS input channels per group as a dense
    convolution; return the friendly names rewritten (the new node keeps the name, so
    `edgekit explain` and --exclude find the layer as before)."""
    import openvino.opset13 as ops

    names = []
    for op in model.get_ordered_ops():
        if op.get_type_name() != "GroupConvolution":
            continue
        w = op.input_value(1).get_node()
        if w.get_type_name() != "Constant":
            continue
        weights = w.get_data()
        groups, out_per_group, in_per_group, kh, kw = weights.shape
        if in_per_group <= MAX_SAFE_GROUP_CHANNELS or (kh, kw) != (1, 1):
            continue  # depthwise (1 input channel per group) or a kernel the plugin computes right
        dense = np.zeros((groups * out_per_group, groups * in_per_group, 1, 1), weights.dtype)
        for g in range(groups):
            dense[g * out_per_group:(g + 1) * out_per_group, g * in_per_group:(g + 1) * in_per_group] = weights[g]
        a = op.get_attributes()
        conv = ops.convolution(op.input_value(0), ops.constant(dense), a["strides"], a["pads_begin"],
                               a["pads_end"], a["dilations"], a["auto_pad"])
        conv.set_friendly_name(op.get_friendly_name())
        for reader in list(op.output(0).get_target_inputs()):
            reader.replace_source_output(conv.output(0))
        names.append(op.get_friendly_name())
    if names:
        model.validate_nodes_and_infer_types()
    return names
