"""int8 recipes docs/int8_accuracy.md measured against edgekit's (kept so that its tables can be
re-run): per-layer corrections, range searches, NNCF settings. Registered into
_int8_routes.RECIPES on import.
"""
from __future__ import annotations

import _int8_eval as ev
from _int8_routes import RECIPES, litert_edgekit, onnx_edgekit, prepared, tflite_edgekit


def onnx_sequential(loaded, split, out, mode="bias", float_ref="eq", **kw):
    """edgekit's ONNX int8, then each layer corrected against the float model (_seq_requant)."""
    import onnx

    from _seq_requant import correct
    from edgekit.formats.onnx import export_torch_to_onnx

    path = onnx_edgekit(loaded, split, out)
    ref = out / "float_ref.onnx"
    export_torch_to_onnx(prepared(loaded, split, float_ref)[0] if float_ref else loaded.module, ev.SHAPE, ref)
    model = onnx.load(str(path))
    correct(model, onnx.load(str(ref)), split.calib.arrays, mode=mode, **kw)
    fixed = out / f"seq_{mode}.onnx"
    onnx.save(model, str(fixed))
    return fixed


RECIPES["onnx"].update({
    "seq-bias": (onnx_sequential, {"mode": "bias"}),
    "seq-gptq-q": (onnx_sequential, {"mode": "gptq-q"}),
    "seq-ls": (onnx_sequential, {"mode": "ls", "ridge": 0.1}),
    "seq-ls-r1": (onnx_sequential, {"mode": "ls", "ridge": 1.0}),
})
RECIPES["onnx"].update({
    "bias-lin": (onnx_sequential, {"mode": "bias", "bias": "lin"}),
    "bias-w": (onnx_sequential, {"mode": "bias", "bias": "w"}),
    "bias-all-nogemm": (onnx_sequential, {"mode": "bias", "bias": "all"}),
    "gptq-q-nobias": (onnx_sequential, {"mode": "gptq-q", "bias": "none"}),
    "gptq-q-lin": (onnx_sequential, {"mode": "gptq-q", "bias": "lin"}),
})


def onnx_range_search(loaded, split, out, rounds=1, base=None, **kw):
    """edgekit's ONNX int8 (or ``base`` recipe's file), then output-aware ranges (_range_search)."""
    import onnx

    from _range_search import search

    path = (base or onnx_edgekit)(loaded, split, out)
    model = onnx.load(str(path))
    ref = ev.reference(loaded.module, split.calib.arrays)
    r = search(model, split.calib.arrays, ref, rounds=rounds, **kw)
    ev.say(f"  range search on calibration images: {r['sqnr_before']:.2f} -> {r['sqnr_after']:.2f} dB, "
           f"{len(r['factors'])} scales changed")
    fixed = out / "range_search.onnx"
    onnx.save(model, str(fixed))
    return fixed


RECIPES["onnx"].update({"range-search": (onnx_range_search, {})})


def onnx_ranges(loaded, split, out, ranges="avgminmax", bias=None, prep="eq+gptq", q=0.0):
    """edgekit's prepared fp32 ONNX quantized by ORT with activation ranges chosen here:
    "avgminmax" = per-image min/max averaged over the calibration images (TFLite route, NNCF),
    "avgquantile" = per-image q / 1-q quantiles averaged. ``bias="w"``: weight-error bias
    correction afterwards (_seq_requant, E[(W - Q(W)) x_f])."""
    import onnx

    from edgekit.formats.onnx import export_torch_to_onnx
    from edgekit.quantize import QuantConfig
    from edgekit.quantize import onnx_int8

    fp32 = out / "prepared_fp32.onnx"
    export_torch_to_onnx(prepared(loaded, split, prep)[0], ev.SHAPE, fp32)
    over = per_image_overrides(fp32, split.calib.arrays, q)
    real = onnx_int8.mse_overrides if hasattr(onnx_int8, "mse_overrides") else None
    import edgekit.quantize.onnx_ranges as orr

    saved = orr.mse_overrides
    orr.mse_overrides = lambda path, arrays: over
    try:
        path = out / f"{ranges}.onnx"
        onnx_int8.quantize_onnx(fp32, path, split.calib, QuantConfig(method="mse"))
    finally:
        orr.mse_overrides = saved
    del real
    if bias:
        from _seq_requant import correct

        model = onnx.load(str(path))
        ref = out / "float_ref.onnx"
        export_torch_to_onnx(prepared(loaded, split, "eq")[0], ev.SHAPE, ref)
        correct(model, onnx.load(str(ref)), split.calib.arrays, mode="bias", bias=bias)
        path = out / f"{ranges}_bias{bias}.onnx"
        onnx.save(model, str(path))
    return path


def per_image_overrides(model_path, arrays, q=0.0) -> dict:
    """{tensor: [{rmin, rmax}]}: per-image min/max (or q-quantiles) averaged over images."""
    import numpy as np

    from edgekit.quantize.onnx_ranges import _exposed  # the tensors ORT calibrates, as edgekit reads them

    sess, names, follows = _exposed(model_path)
    lo = {t: [] for t in names}
    hi = {t: [] for t in names}
    for a in arrays:
        for t, v in zip(names, sess.run(names, {"input": a[None]})):
            lo[t].append(np.quantile(v, q) if q else v.min())
            hi[t].append(np.quantile(v, 1 - q) if q else v.max())
    over = {t: [{"rmin": np.float32(min(np.mean(lo[t]), 0)), "rmax": np.float32(max(np.mean(hi[t]), 0))}]
            for t in names}
    over.update({t: over[o] for t, o in follows.items() if o in over})
    return over


RECIPES["onnx"].update({
    "avgminmax": (onnx_ranges, {}),
    "avgminmax-biasw": (onnx_ranges, {"bias": "w"}),
})
RECIPES["onnx"].update({
    "ls-r0": (onnx_sequential, {"mode": "ls", "ridge": 0.0, "bias": "none"}),
    "ls-r3": (onnx_sequential, {"mode": "ls", "ridge": 1e-3, "bias": "none"}),
})

RECIPES["onnx"].update({"avgminmax-bc": (onnx_ranges, {"prep": "eq+gptq+bc"})})


def openvino_from_qdq(loaded, split, out, onnx_recipe="edgekit"):
    """OpenVINO IR converted from the ONNX QDQ int8 file (OpenVINO's LPT turns each Q/DQ pair
    into a FakeQuantize and runs the convs in int8): the same quantization as the ONNX file."""
    import openvino as ov

    fn, kw = RECIPES["onnx"][onnx_recipe]
    src = fn(loaded, split, out, **kw)
    xml = out / "from_qdq_int8.xml"
    ov.save_model(ov.convert_model(str(src)), str(xml), compress_to_fp16=False)
    return xml


def openvino_nncf(loaded, split, out, prep=None, preset="performance", fast_bc=False, bc=True,
                  model_type=None, per_channel=True, ranges=None, full_input=None):
    """NNCF on the (optionally int8-prepared) folded model with the given NNCF settings."""
    import contextlib
    import sys

    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, QuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    from edgekit.formats.onnx import export_torch_to_onnx

    module = prepared(loaded, split, prep)[0] if prep else loaded.module
    fp32 = out / "fp32.onnx"
    export_torch_to_onnx(module, ev.SHAPE, fp32)
    model = ov.convert_model(str(fp32))
    nncf.set_log_level(40)
    adv = AdvancedQuantizationParameters(
        weights_quantization_params=QuantizationParameters(per_channel=per_channel),
        activations_range_estimator_params={None: None, "minmax": RangeEstimatorParametersSet.MINMAX,
                                            "quantile": RangeEstimatorParametersSet.MEAN_QUANTILE}[ranges],
        disable_bias_correction=not bc)
    arrays = split.calib.arrays
    kw = {"model_type": nncf.ModelType.TRANSFORMER} if model_type == "transformer" else {}
    with contextlib.redirect_stdout(sys.stderr):
        q = nncf.quantize(model, nncf.Dataset(list(arrays), lambda a: a[None]), subset_size=len(arrays),
                          preset={"performance": nncf.QuantizationPreset.PERFORMANCE,
                                  "mixed": nncf.QuantizationPreset.MIXED}[preset],
                          fast_bias_correction=fast_bc, advanced_parameters=adv, **kw)
    if full_input:
        set_input_fq(q, *input_range(loaded.card), symmetric=full_input == "sym")
    xml = out / "nncf_int8.xml"
    ov.save_model(q, str(xml), compress_to_fp16=False)
    return xml


def set_input_fq(model, lo, hi, symmetric=True):
    """Give the FakeQuantize on the model input the preprocessing's exact range (NNCF sets the
    mean of per-image min/max, which clips the darkest / brightest pixels)."""
    import numpy as np
    import openvino as ov

    for op in model.get_ordered_ops():
        if op.get_type_name() == "FakeQuantize" and op.input_value(0).get_node().get_type_name() == "Parameter":
            levels = op.get_levels()
            if symmetric:
                m = max(-lo, hi)
                lo, hi = -m * (levels // 2) / (levels // 2 - 1), m
            for i, v in zip((1, 2, 3, 4), (lo, hi, lo, hi)):
                c = ov.op.Constant(np.array(v, np.float32).reshape(op.input_value(i).get_shape()))
                op.input(i).replace_source_output(c.output(0))
            return True
    return False


RECIPES["openvino"].update({
    "from-qdq": (openvino_from_qdq, {}),
    "from-qdq-bc": (openvino_from_qdq, {"onnx_recipe": "edgekit"}),
    "nncf-prep-fullbc": (openvino_nncf, {"prep": "eq+gptq"}),
    "nncf-prep-fastbc": (openvino_nncf, {"prep": "eq+gptq", "fast_bc": True}),
    "nncf-prep-nobc": (openvino_nncf, {"prep": "eq+gptq", "bc": False}),
    "nncf-prepbc-nobc": (openvino_nncf, {"prep": "eq+gptq+bc", "bc": False}),
    "nncf-prep-mixed": (openvino_nncf, {"prep": "eq+gptq", "preset": "mixed"}),
    "nncf-prep-quantile": (openvino_nncf, {"prep": "eq+gptq", "ranges": "quantile"}),
    "nncf-plain-fastbc": (openvino_nncf, {"fast_bc": True}),
})
RECIPES["openvino"].update({
    "nncf-prepbc-fullbc": (openvino_nncf, {"prep": "eq+gptq+bc"}),
    "from-qdq-avgminmax-bc": (openvino_from_qdq, {"onnx_recipe": "avgminmax-bc"}),
})
RECIPES["tflite"].update({
    "bc-damp001": (tflite_edgekit, {"prep": "eq+gptq+bc+d0.001"}),
    "bc-damp1": (tflite_edgekit, {"prep": "eq+gptq+bc+d0.1"}),
    "bc-noeq": (tflite_edgekit, {"prep": "gptq+bc"}),
})


def litert_avg(loaded, split, out, prep="eq+gptq+bc", headroom=1.5, full_input=True, own_pool_range=False):
    """litert-torch route with the TFLite route's averaged min/max ranges (_litert_variants)."""
    import functools

    import edgekit.export.tflite_torch as tt
    from _litert_variants import pt2e_avg

    saved = tt._pt2e
    tt._pt2e = functools.partial(pt2e_avg, headroom=headroom,
                                 input_range=input_range(loaded.card) if full_input else None,
                                 own_pool_range=own_pool_range)
    try:
        return litert_edgekit(loaded, split, out, prep=prep)
    finally:
        tt._pt2e = saved


RECIPES["litert"].update({
    "avg-bc": (litert_avg, {}),
    "avg": (litert_avg, {"prep": "eq+gptq"}),
})


def onnx_with_tflite_ranges(loaded, split, out, prep="eq+gptq+bc", tflite_recipe="edgekit"):
    """ONNX int8 whose activation ranges are copied from the TFLite route's int8 file of the
    same prepared model (matched by the Keras layer names the twin keeps): tells ranges
    apart from runtime semantics when the two formats differ."""
    import re

    import numpy as np

    from ai_edge_litert.interpreter import Interpreter
    from edgekit.formats.onnx import export_torch_to_onnx
    from edgekit.quantize import QuantConfig
    from edgekit.quantize import onnx_ranges as orr
    from edgekit.quantize.onnx_int8 import quantize_onnx

    fn, kw = RECIPES["tflite"][tflite_recipe]
    tfl = fn(loaded, split, out, **kw)
    ranges = {}
    for t in Interpreter(str(tfl)).get_tensor_details():
        sc, zp = t["quantization"]
        if t["dtype"] is not np.int8 or sc == 0 or len(t["shape"]) < 2:
            continue
        name = t["name"].split(";")[0]
        lo, hi = (-128 - zp) * sc, (127 - zp) * sc
        m = re.search(r"features\.(\d+)\.conv\.(\d+)\.2_1/Relu6", name)
        if m:
            k, j = m.groups()
            ranges[f"/features/features.{k}/conv/conv.{j}/conv.{j}.2/Clip_output_0"] = (lo, hi)
        elif (m := re.search(r"features\.(\d+)\.2_1/Relu6", name)):
            k = m.group(1)
            ranges[f"/features/features.{k}/features.{k}.2/Clip_output_0"] = (lo, hi)
        elif (m := re.search(r"features\.(\d+)\.conv\.(\d+)_1/BiasAdd", name)):
            k, j = m.groups()
            ranges[f"/features/features.{k}/conv/conv.{j}/Conv_output_0"] = (lo, hi)
        elif (m := re.search(r"features\.(\d+)\.add_1/Add", name)):
            ranges[f"/features/features.{m.group(1)}/Add_output_0"] = (lo, hi)
    fp32 = out / "prepared_fp32.onnx"
    export_torch_to_onnx(prepared(loaded, split, prep)[0], ev.SHAPE, fp32)
    over = per_image_overrides(fp32, split.calib.arrays)
    matched = 0
    for t in over:
        if t in ranges:
            over[t] = [{"rmin": np.float32(min(ranges[t][0], 0)), "rmax": np.float32(max(ranges[t][1], 0))}]
            matched += 1
    ev.say(f"  {matched} of {len(over)} ONNX ranges taken from the TFLite file")
    saved = orr.mse_overrides
    orr.mse_overrides = lambda path, arrays: over
    try:
        path = out / "tflite_ranges.onnx"
        quantize_onnx(fp32, path, split.calib, QuantConfig(method="mse"))
    finally:
        orr.mse_overrides = saved
    return path


RECIPES["onnx"].update({"tflite-ranges": (onnx_with_tflite_ranges, {})})


def input_range(card) -> tuple[float, float]:
    """The model input's exact range: what preprocessing maps pixel values 0 and 255 to."""
    import numpy as np

    mean, std = np.asarray(card.preprocess.mean, float), np.asarray(card.preprocess.std, float)
    return float(((0 - mean) / std).min()), float(((255 - mean) / std).max())


def onnx_full_input(loaded, split, out, ranges="mse", prep="eq+gptq+bc", exclude=()):
    """ONNX int8 with the input tensor's range set to the preprocessing's exact range (no
    clipping of dark / bright pixels) instead of a calibrated one; the rest as ``ranges``."""
    import numpy as np

    from edgekit.formats.onnx import export_torch_to_onnx
    from edgekit.quantize import QuantConfig
    from edgekit.quantize import onnx_ranges as orr
    from edgekit.quantize.onnx_int8 import quantize_onnx

    fp32 = out / "prepared_fp32.onnx"
    export_torch_to_onnx(prepared(loaded, split, prep)[0], ev.SHAPE, fp32)
    over = (orr.mse_overrides(fp32, split.calib.arrays) if ranges == "mse"
            else per_image_overrides(fp32, split.calib.arrays))
    lo, hi = input_range(loaded.card)
    over["input"] = [{"rmin": np.float32(lo), "rmax": np.float32(hi)}]
    saved = orr.mse_overrides
    orr.mse_overrides = lambda path, arrays: over
    try:
        path = out / f"{ranges}_full_input{'_mixed' if exclude else ''}.onnx"
        quantize_onnx(fp32, path, split.calib, QuantConfig(method="mse", exclude=tuple(exclude)))
    finally:
        orr.mse_overrides = saved
    return path


RECIPES["onnx"].update({
    "bc-fullinput": (onnx_full_input, {}),
    "avgminmax-bc-fullinput": (onnx_full_input, {"ranges": "avgminmax"}),
    "fullinput-nobc": (onnx_full_input, {"prep": "eq+gptq"}),
})


def onnx_full_input_avg(loaded, split, out, **kw):
    return onnx_full_input(loaded, split, out, ranges="avgminmax", **kw)


RECIPES["onnx"].update({
    "avg-bc-fi-search": (onnx_range_search, {"base": onnx_full_input_avg}),
})
RECIPES["openvino"].update({
    "from-qdq-avg-bc-fi": (openvino_from_qdq, {"onnx_recipe": "avgminmax-bc-fullinput"}),
})

RECIPES["openvino"].update({
    "nncf-prep-fullbc-fi-sym": (openvino_nncf, {"prep": "eq+gptq", "full_input": "sym"}),
    "nncf-prep-fullbc-fi-asym": (openvino_nncf, {"prep": "eq+gptq", "full_input": "asym"}),
    "nncf-prepbc-fullbc-fi-sym": (openvino_nncf, {"prep": "eq+gptq+bc", "full_input": "sym"}),
})

RECIPES["litert"].update({"avg-bc-pool": (litert_avg, {"own_pool_range": True})})
RECIPES["litert"].update({"avg-bc-pool-fi": (litert_avg, {"own_pool_range": True})})  # input range fixed

RECIPES["openvino"].update({  # deliberately worse NNCF settings (what the test floors must catch)
    "nncf-nobc": (openvino_nncf, {"bc": False}),
    "nncf-minmax-nobc": (openvino_nncf, {"bc": False, "ranges": "minmax"}),
    "nncf-pertensor": (openvino_nncf, {"per_channel": False}),
})
