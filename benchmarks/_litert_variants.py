"""litert-torch (PT2E) int8 with the TFLite route's activation ranges, for _int8_routes.

litert-torch's symmetric config observes activations with torch's HistogramObserver and
quantizes the logits like any activation. The TFLite (Keras-twin) route instead uses each
tensor's per-image min/max averaged over the calibration images, and the logits' global
min with 1.5x the global max (quantize/tflite_int8.py). ``pt2e_avg`` does the same in PT2E.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torchao.quantization.pt2e.observer import MinMaxObserver


class AvgMinMaxObserver(MinMaxObserver):
    """min/max of each forward call (one calibration image), averaged over calls; the
    global ones are kept too (``global_min`` / ``global_max``) for the logits."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register_buffer("count", torch.tensor(0.0))
        self.register_buffer("sum_min", torch.tensor(0.0))
        self.register_buffer("sum_max", torch.tensor(0.0))
        self.register_buffer("global_min", torch.tensor(float("inf")))
        self.register_buffer("global_max", torch.tensor(float("-inf")))

    def forward(self, x_orig):
        if x_orig.numel() == 0:
            return x_orig
        lo, hi = torch.aminmax(x_orig.detach().float())
        self.count += 1
        self.sum_min += lo
        self.sum_max += hi
        self.global_min.copy_(torch.minimum(self.global_min, lo))
        self.global_max.copy_(torch.maximum(self.global_max, hi))
        self.min_val.copy_(self.sum_min / self.count)
        self.max_val.copy_(self.sum_max / self.count)
        return x_orig


def pt2e_avg(module, example, calibration, quant, headroom: float = 1.5, input_range=None,
             own_pool_range: bool = True):
    """edgekit.export.tflite_torch._pt2e with AvgMinMaxObserver activations and the logits'
    range widened as the TFLite route does."""
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from edgekit.export.tflite_torch import _tflite_complete_quantizer

    base = get_symmetric_quantization_config(is_per_channel=quant.per_channel, is_dynamic=False)
    act = dataclasses.replace(base.input_activation, observer_or_fake_quant_ctr=AvgMinMaxObserver.with_args(eps=2 ** -12))
    cfg = dataclasses.replace(base, input_activation=act, output_activation=act)
    quantizer = (_own_pool_ranges(_tflite_complete_quantizer(PT2EQuantizer)) if own_pool_range
                 else _tflite_complete_quantizer(PT2EQuantizer))().set_global(cfg)
    graph = prepare_pt2e(torch.export.export(module, example).module(), quantizer)
    arrays = calibration.arrays[: quant.samples]
    with torch.no_grad():
        for a in arrays:
            graph(torch.from_numpy(a.transpose(1, 2, 0)[None].copy()))
    out = [n for n in graph.graph.nodes if n.op == "output"][0]
    obs = _observer_of(graph, out.args[0][0] if isinstance(out.args[0], (tuple, list)) else out.args[0])
    if obs is not None:  # logits: global min, 1.5x global max
        obs.min_val.copy_(obs.global_min)
        obs.max_val.copy_(obs.global_max * headroom if obs.global_max > 0 else obs.global_max)
    if input_range is not None:  # the preprocessing's exact range, as the ONNX recipe
        obs = _input_observer(graph)
        if obs is not None:
            obs.min_val.fill_(input_range[0])
            obs.max_val.fill_(input_range[1])
    graph = convert_pt2e(graph, fold_quantize=False)
    summary = {"engine": "litert-torch PT2E (static), averaged min/max ranges", "samples": int(len(arrays))}
    return graph, {"quant_config": QuantConfig(pt2e_quantizer=quantizer)}, summary


def _own_pool_ranges(base):
    """Global average pooling gets its own output range: litert-torch shares the pool's input
    qparams with its output, so the 1280 averaged features (values up to ~4) either get the
    ReLU6 input's 6/255 step or clip the input to the output's range (measured: features.18
    clipped at 4.14 with averaged min/max)."""
    from litert_torch.quantize.pt2e_quantizer_utils import get_input_act_qspec, get_output_act_qspec
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation

    aten = torch.ops.aten
    pools = (aten.adaptive_avg_pool2d.default, aten.mean.dim, aten.avg_pool2d.default, aten._adaptive_avg_pool2d.default)

    class OwnPoolRanges(base):
        def annotate(self, model):
            cfg = self.global_config
            for node in model.graph.nodes:
                if node.op == "call_function" and node.target in pools and "quantization_annotation" not in node.meta:
                    node.meta["quantization_annotation"] = QuantizationAnnotation(
                        input_qspec_map={node.args[0]: get_input_act_qspec(cfg)},
                        output_qspec=get_output_act_qspec(cfg), _annotated=True)
            return super().annotate(model)

    return OwnPoolRanges


def _input_observer(graph):
    """The observer on the model input: the first one reached from the placeholder through
    layout-only ops (the NHWC wrapper's permute)."""
    node = next(n for n in graph.graph.nodes if n.op == "placeholder")
    for _ in range(8):
        for user in node.users:
            if user.op == "call_module" and isinstance(getattr(graph, str(user.target), None), AvgMinMaxObserver):
                return getattr(graph, str(user.target))
        node = next(iter(node.users), None)
        if node is None:
            return None
    return None


def _observer_of(graph, node):
    """The observer module whose output reaches ``node`` through view-like ops."""
    seen = 0
    while node is not None and seen < 8:
        if node.op == "call_module" and isinstance(getattr(graph, node.target, None), AvgMinMaxObserver):
            return getattr(graph, node.target)
        node = node.args[0] if node.args and isinstance(node.args[0], torch.fx.Node) else None
        seen += 1
    return None


__all__ = ["AvgMinMaxObserver", "pt2e_avg", "np"]
