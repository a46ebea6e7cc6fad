"""ONNX int8 of MobileNetV2 (torchvision ImageNet weights) against the float model on real photos.

The flow edgekit's int8 export uses: fold BN -> ``prepare_for_int8`` (channel equalization +
GPTQ weights + bias correction) -> fp32 ONNX -> ``quantize_onnx`` (averaged min/max ranges, the
input's exact pixel range), run by ONNX Runtime with every Conv and Gemm in int8 (uint8
activations, int8 per-channel weights). The module fixture quantizes with "mse", still offered.

The module fixture rebuilds that flow from its parts (calibrated on the swapped half) to check
what the file holds; accuracy is asserted on the files the CLI writes, pooled over both halves.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from int8_pooled import assert_pooled  # noqa: E402

INPUT_SHAPE = (1, 3, 224, 224)


@pytest.fixture(scope="module")
def int8_run(tmp_path_factory, mobilenet_v2_weights, photos_dir):
    from edgekit.data import load_image_set, split_calibration_eval
    from edgekit.formats.onnx import export_torch_to_onnx
    from edgekit.fold_bn import fold_batchnorm
    from edgekit.quantize import QuantConfig
    from edgekit.quantize.onnx_int8 import quantize_onnx
    from edgekit.quantize.prepare import prepare_for_int8
    from edgekit.zoo import get_model

    loaded = get_model("mobilenet_v2", mobilenet_v2_weights)
    module, _ = fold_batchnorm(loaded.module, torch.zeros(INPUT_SHAPE))
    _, calib = split_calibration_eval(load_image_set(photos_dir, loaded.card.preprocess))  # swapped
    prepared, prep = prepare_for_int8(module, calib.arrays, INPUT_SHAPE, saturation_safe="signed-inputs")
    out = tmp_path_factory.mktemp("onnx_int8")
    fp32, int8 = out / "prepared_fp32.onnx", out / "int8.onnx"
    export_torch_to_onnx(prepared, INPUT_SHAPE, fp32)
    summary = quantize_onnx(fp32, int8, calib, QuantConfig(method="mse"))
    return {"calib": calib, "int8": int8, "prepared": prepared, "prep": prep, "summary": summary}


def test_int8_agreement_pooled_over_both_halves(mobilenet_v2_export, mobilenet_v2_export_swapped,
                                              mobilenet_v2_held_out):
    """The files `edgekit export --int8` writes, calibrated on one half of the photos and judged
    on the other, both ways: every photo held out once (floors and margins: int8_pooled.py)."""
    files = {"A": mobilenet_v2_export[0] / "mobilenet_v2_int8.onnx",
             "B": mobilenet_v2_export_swapped[0] / "mobilenet_v2_int8.onnx"}
    assert_pooled("onnx", files, mobilenet_v2_held_out)


def test_shipped_int8_input_range_is_the_pixel_range(mobilenet_v2_export):
    """The int8 input spans what preprocessing maps pixels 0 and 255 to (a calibrated range
    clips dark and bright pixels of other photos); the other ranges are averaged min/max."""
    from types import SimpleNamespace

    import onnx
    from onnx import numpy_helper


    from edgekit.export import Artifact
    from edgekit.quantize.input_range import pixel_range

    art = Artifact.load(mobilenet_v2_export[0] / "mobilenet_v2_int8.onnx")
    quant = art.meta["quantization"]
    assert quant["method"] == "minmax" and quant["input_range"].startswith("exact"), quant
    assert art.meta["int8_preparation"]["bias_correction"]["layers"] == 53
    model = onnx.load(str(art.path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    [q] = [n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == model.graph.input[0].name]
    scale, zero = float(inits[q.input[1]]), int(inits[q.input[2]])
    lo, hi = pixel_range(SimpleNamespace(**art.card["preprocess"]))
    assert abs(-zero * scale - lo) <= scale and abs((255 - zero) * scale - hi) <= scale, (scale, zero, lo, hi)


def test_every_conv_and_gemm_runs_int8_in_onnxruntime(int8_run):
    from edgekit.inspect.onnx_inspect import inspect_onnx

    rt = inspect_onnx(int8_run["int8"])["runtime"]
    assert rt["float_compute_ops"] == {}, rt
    assert rt["int8_compute_ops"] == {"QLinearConv": 52, "QGemm": 1}, rt


def test_int8_weights_are_the_prepared_integers(int8_run):
    """ORT's weight quantizer must reproduce GPTQ's integers, not re-round them."""
    import onnx
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(int8_run["int8"])).graph.initializer}
    params = dict(int8_run["prepared"].named_parameters())
    checked = 0
    for name, p in params.items():
        if not name.endswith(".weight") or name + "_quantized" not in inits:
            continue
        q, scale = inits[name + "_quantized"], inits[name + "_scale"]
        w = p.detach().numpy()
        back = q.astype(np.float32) * scale.reshape(-1, *[1] * (w.ndim - 1))
        assert np.abs(back - w).max() <= 1e-5 * np.abs(w).max(), name  # float rounding only
        checked += 1
    assert checked == 53


def test_layers_reading_signed_tensors_cannot_saturate_x86_kernels(mobilenet_v2_export):
    """The shipped file cannot saturate x86 int8 kernels without VNNI (quantize/saturation.py):
    every conv whose input has a nonzero zero point (a signed tensor, e.g. the image and the
    residual bottlenecks) has integers whose neighbouring pairs along the input channels sum to
    at most 128 (1x1 convs; 255 * 128 fits an int16) or |q| <= 64 (the 3x3 first conv), on a grid
    finer than 7 bits where pairs allow; the rest keep 8 bits. This is what makes the file
    compute the same on AVX2, VNNI and ARM CPUs, so it is checked on the integers, not timed."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(mobilenet_v2_export[0] / "mobilenet_v2_int8.onnx"))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    pointwise, other, unsigned = [], [], []
    for conv in (n for n in model.graph.node if n.op_type == "Conv"):
        x, w = (producer[i] for i in conv.input[:2])  # DequantizeLinear of the input and of the weight
        q = np.abs(inits[w.input[0]].astype(np.int32))
        if int(inits[x.input[2]]) == 0:
            unsigned.append(int(q.max()))
        elif q.shape[2:] == (1, 1):
            rows = q.reshape(q.shape[0], -1)
            pointwise.append((int((rows[:, 1:] + rows[:, :-1]).max()), float(np.median(rows.max(1)))))
        else:
            other.append(int(q.max()))
    assert len(pointwise) == 17 and len(other) == 1, (pointwise, other)  # 16 expansions + features.18.0; features.0.0
    assert max(p for p, _ in pointwise) <= 128 and other[0] <= 64, (pointwise, other)
    assert np.median([m for _, m in pointwise]) > 64 + 8, pointwise  # finer than 7 bits (measured: 88)
    assert len(unsigned) == 34 and min(unsigned) == 127, unsigned  # ReLU6 inputs: 8 bits, row max on +-127


def test_mse_range_beats_min_max_and_matches_brute_force():
    from edgekit.quantize.activation_ranges import Histograms

    x = np.random.default_rng(0).laplace(size=200_000).astype(np.float32)  # heavy-ish tails
    h = Histograms()
    h.add_range({"t": x})
    h.add({"t": x})
    lo, hi = h.mse_range("t")

    def err(lo, hi):
        s = (hi - lo) / 255
        zp = np.round(-lo / s)
        return np.mean((x - (np.clip(np.round(x / s) + zp, 0, 255) - zp) * s) ** 2)

    grid = [(a * x.min(), b * x.max()) for a in np.linspace(0.02, 1, 50) for b in np.linspace(0.02, 1, 50)]
    brute = min(err(*c) for c in grid)
    assert err(lo, hi) <= 1.02 * brute
    assert err(lo, hi) < 0.9 * err(float(x.min()), float(x.max()))
