"""Grouped 1x1 convolutions reach NNCF as dense block-diagonal ones (quantize/openvino_grouped_pointwise.py):
exact in fp32, right in int8 on every CPU (OpenVINO's grouped 1x1 int8 kernel is wrong on AMX
CPUs above 64 input channels per group: about 0 dB there), and untouched where not needed."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

ov = pytest.importorskip("openvino")
pytest.importorskip("nncf")
torch = pytest.importorskip("torch")

from edgekit.quantize import QuantConfig  # noqa: E402
from edgekit.quantize.openvino_grouped_pointwise import densify_grouped_pointwise  # noqa: E402
from edgekit.quantize.openvino_int8 import quantize_openvino  # noqa: E402

CONFIG = {"INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": "f32"}


def _model(channels: int, groups: int, kernel: int = 1):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Conv2d(channels, channels, kernel, groups=groups,
                                                               padding=kernel // 2)).eval()
    x = torch.randn(48, channels, 10, 10)
    return ov.convert_model(net, example_input=x[:1]), x.numpy()


def _run(model, x):
    req = ov.Core().compile_model(model, "CPU", CONFIG).create_infer_request()
    return np.concatenate([req.infer([x[i:i + 1]])[0].copy() for i in range(len(x))])


def _types(model) -> list[str]:
    return [op.get_type_name() for op in model.get_ordered_ops() if "Convolution" in op.get_type_name()]


def test_dense_rewrite_is_exact_in_fp32_and_keeps_the_name():
    model, x = _model(200, 2)
    before = _run(model, x)
    name = next(op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() == "GroupConvolution")
    assert densify_grouped_pointwise(model) == [name]
    assert _types(model) == ["Convolution"]
    assert name in {op.get_friendly_name() for op in model.get_ordered_ops()}
    np.testing.assert_allclose(_run(model, x), before, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("channels,groups,kernel", [(128, 2, 1), (96, 96, 1), (200, 2, 3)])
def test_layers_the_plugin_computes_right_stay_grouped(channels, groups, kernel):
    """64 input channels per group, depthwise, a 3x3 kernel: no rewrite (the grouped kernel is faster)."""
    model, _ = _model(channels, groups, kernel)
    assert densify_grouped_pointwise(model) == []
    assert _types(model) == ["GroupConvolution"]


def test_int8_grouped_pointwise_with_100_channels_per_group_matches_float():
    """On an AMX CPU the grouped form gives about 0 dB here; any CPU's int8 of the dense form
    holds 40+ dB (a ReLU'd Gaussian through one 1x1 layer)."""
    model, x = _model(200, 2)
    reference = _run(model, x)
    quantized, summary = quantize_openvino(model, SimpleNamespace(arrays=x), QuantConfig(samples=48))
    assert len(summary["grouped_pointwise_as_dense"]["layers"]) == 1
    y = _run(quantized, x)
    sqnr = 10 * np.log10((reference ** 2).sum() / ((reference - y) ** 2).sum())
    assert sqnr > 30, f"int8 output SQNR {sqnr:.1f} dB"
