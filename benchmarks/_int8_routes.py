"""The recipes benchmarks/int8_recipes.py compares: fn(loaded, split, out_dir, **kw) -> int8 file.

"edgekit" recipes call edgekit's own exporters exactly as `edgekit export --int8` does; the
experiments measured in docs/int8_accuracy.md register theirs from _int8_experiments.py.
"""
from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import _int8_eval as ev

CACHE = Path("/tmp/edgekit-int8-cache")
_PREPARED: dict = {}


def prepared(loaded, split, variant: str = "eq+gptq", **kw):
    """The int8-prepared module for this half (cached on disk by half and variant)."""
    import torch

    key = (loaded.card.name, split.name, variant, tuple(sorted(kw.items())))
    if key in _PREPARED:
        return _PREPARED[key]
    CACHE.mkdir(exist_ok=True)
    tag = "_".join([loaded.card.name, split.name, variant.replace("+", "-")] + [f"{k}{v}" for k, v in sorted(kw.items())])
    path = CACHE / f"{tag}.pt"
    module = copy.deepcopy(loaded.module)
    if path.is_file():
        module.load_state_dict(torch.load(path, weights_only=True))
        summary = {"cached": str(path)}
    else:
        module, summary = _prepare(module, split.calib.arrays, variant, **kw)
        torch.save(module.state_dict(), path)
    _PREPARED[key] = (module, summary)
    return module, summary


def _prepare(module, arrays, variant, **kw):
    """"eq+gptq+bc" is what edgekit ships (prepare_for_int8); other variants build it by parts."""
    import torch

    from edgekit.quantize.prepare import prepare_for_int8

    if variant == "eq+gptq+bc" and set(kw) <= {"saturation_safe"}:
        return prepare_for_int8(module, arrays, ev.SHAPE, saturation_safe=kw.get("saturation_safe", "none"))
    from edgekit.quantize.equalize import equalize_channels
    from edgekit.quantize.weight_bias import correct_weight_bias
    from edgekit.quantize.weight_rounding import gptq_round_weights

    torch.set_num_threads(1)
    summary = {}
    for part in variant.split("+"):  # "d0.001": GPTQ damping
        if part.startswith("d"):
            kw = {**kw, "damp": float(part[1:])}
    if "eq" in variant.split("+"):
        summary["eq"] = equalize_channels(module, arrays, ev.SHAPE)
    if "gptq" in variant.split("+"):
        before = copy.deepcopy(module) if "bc" in variant.split("+") else None
        summary["gptq"] = gptq_round_weights(module, arrays, **kw)
        if before is not None:
            summary["bias_correction"] = correct_weight_bias(before, module, arrays)
    return module, summary


def _request(loaded, split, out, precision="int8", quant=None, int8=None, **kw):
    from edgekit.export import ExportRequest
    from edgekit.quantize import QuantConfig

    module, summary = int8 if int8 is not None else (None, None)
    return ExportRequest(loaded, out, precision, calibration=split.calib, quant=quant or QuantConfig(),
                         progress=lambda m: None, int8_module=module, int8_preparation=summary, **kw)


def _grid(fmt: str) -> dict:
    """The weight grid the pipeline prepares for this exporter (Exporter.int8_saturation_safe): ONNX
    and OpenVINO get saturation-safe weights where the input is signed (quantize/saturation.py)."""
    from edgekit.export import EXPORTERS

    grid = EXPORTERS.get(fmt).int8_saturation_safe
    return {} if grid == "none" else {"saturation_safe": grid}  # "none": the cache tags of before


def _user(loaded):
    return replace(loaded, card=replace(loaded.card, name="my_mobilenet", family="user"))


def onnx_edgekit(loaded, split, out, prep="eq+gptq+bc", method="auto"):
    from edgekit.export import EXPORTERS
    from edgekit.quantize import QuantConfig

    int8 = prepared(loaded, split, prep, **_grid("onnx")) if prep else None
    return EXPORTERS.get("onnx").export(_request(loaded, split, out, quant=QuantConfig(method=method), int8=int8)).path


def tflite_edgekit(loaded, split, out, prep="eq+gptq+bc"):
    from edgekit.export import EXPORTERS

    int8 = prepared(loaded, split, prep, **_grid("tflite")) if prep else None
    return EXPORTERS.get("tflite").export(_request(loaded, split, out, int8=int8)).path


def litert_edgekit(loaded, split, out, prep="eq+gptq+bc"):
    from edgekit.export import EXPORTERS

    int8 = prepared(loaded, split, prep, **_grid("tflite")) if prep else None
    return EXPORTERS.get("tflite").export(_request(_user(loaded), split, out, int8=int8)).path


def openvino_edgekit(loaded, split, out, prep="eq+gptq+bc"):
    from edgekit.export import EXPORTERS

    int8 = prepared(loaded, split, prep, **_grid("openvino")) if prep else None  # as the pipeline hands it over
    return EXPORTERS.get("openvino").export(_request(loaded, split, out, int8=int8)).path


def tflite_variant(loaded, split, out, prep="eq+gptq+bc"):
    return tflite_edgekit(loaded, split, out, prep=prep)


RECIPES = {
    "onnx": {"edgekit": (onnx_edgekit, {}), "noprep": (onnx_edgekit, {"prep": None}),
             "noprep-minmax": (onnx_edgekit, {"prep": None, "method": "minmax"}),
             "nobc": (onnx_edgekit, {"prep": "eq+gptq"}),
             "edgekit-mse": (onnx_edgekit, {"method": "mse"})},
    "tflite": {"edgekit": (tflite_edgekit, {}), "noprep": (tflite_edgekit, {"prep": None}),
               "nobc": (tflite_edgekit, {"prep": "eq+gptq"})},
    "litert": {"edgekit": (litert_edgekit, {}), "noprep": (litert_edgekit, {"prep": None}),
               "nobc": (litert_edgekit, {"prep": "eq+gptq"})},
    "openvino": {"edgekit": (openvino_edgekit, {}), "noprep": (openvino_edgekit, {"prep": None}),
                 "nobc": (openvino_edgekit, {"prep": "eq+gptq"})},
}


import _int8_experiments  # noqa: E402,F401  registers the recipes docs/int8_accuracy.md measured
