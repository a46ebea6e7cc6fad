"""The last step of every TFLite route: check the converted bytes (an int8 file must be int8),
add the app metadata, write atomically, and describe the file in its sidecar."""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Optional

from .._env import imported_version, package_version, tool_versions
from .._files import atomic_path
from ..errors import UnsupportedError
from ..formats.tflite_metadata import build_metadata, populate
from ..inspect.tflite_inspect import inspect_tflite, layer_of
from .artifact import Artifact
from .base import ExportRequest

LABEL_SETS = {"imagenet1k": ("imagenet1k_labels.txt", 1000)}  # card.classes -> packaged file


def write_tflite(req: ExportRequest, opts, data: bytes, final: Path, info: dict, qsummary: dict,
                 layer_names: Optional[set] = None) -> Artifact:
    """``layer_names``: the Keras model's, to name the layer of each op left in float."""
    report = inspect_tflite(data, label=final.name, kept_float=qsummary.get("kept_float") or {})
    integer = req.precision.integer
    unasked = [f for f in report["float_ops"] if not f.get("kept_float")]  # not a layer --exclude named
    if integer and report["float_ops"]:
        for f in report["float_ops"]:
            f["layer"] = f.get("kept_float") or layer_of(f["output"], layer_names)
        if unasked and not opts.float_fallback:
            raise UnsupportedError(_float_ops_message(unasked, req.precision))
    md_info = None
    if opts.metadata:
        data, md_info = _with_metadata(data, req.loaded.card, req.precision, report)
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
    meta = {"tools": {**tool_versions("keras", "ai-edge-litert", "torch"), "tensorflow": imported_version("tensorflow")},
            "conversion": info, "quantization": qsummary, "fold_bn": req.fold_report,
            "layout": "NHWC" if _nhwc(report) else "NCHW",
            "io": {"inputs": report["inputs"], "outputs": report["outputs"]},
            "inspect": {"verdict": report["verdict"], "transpose_ops": report["transpose_ops"],
                        "operators": report["operators"],
                        "float_ops": report["float_ops"]},  # per-layer record of what stayed float
            "metadata": md_info}
    if req.calibration is not None and integer:
        meta["calibration"] = req.calibration.summary()
    v = report["verdict"]
    req.progress(f"tflite {req.precision}: {final.name} ({len(data) / 1e6:.1f} MB, {v['precision']}; "
                 f"{report['transpose_ops']} Transpose ops)")
    return Artifact.written(final, "tflite", req.precision, req.loaded, meta)


def _float_ops_message(float_ops: list, precision: str) -> str:
    first = float_ops[0]
    more = f" (and {len(float_ops) - 1} more: {', '.join(sorted({f['op'] for f in float_ops[1:]})[:4])})" \
        if len(float_ops) > 1 else ""
    return (f"{precision}: op {first['op']} in layer '{first['layer']}' has no {precision} kernel in TFLite "
            f"and would run in float{more}. Re-run with --float-fallback to keep it in float "
            "(a mixed int8/float file), or export fp32/fp16 only")


def _with_metadata(data: bytes, card, precision: str, report: dict):
    if len(report["inputs"]) != 1 or len(report["outputs"]) != 1:
        return data, {"written": False, "reason": "metadata is written for 1-input, 1-output image models"}
    labels_name, files = None, {}
    label_set = LABEL_SETS.get(card.classes)
    if card.labels and len(card.labels) == card.num_classes:  # a trained checkpoint's class names
        labels_name = "labels.txt"
        files[labels_name] = "".join(f"{name}\n" for name in card.labels).encode()
    elif label_set and card.num_classes == label_set[1]:
        labels_name = "labels.txt"
        files[labels_name] = resources.files("edgekit.data").joinpath(label_set[0]).read_bytes()
    pre = card.preprocess
    meta = build_metadata(
        name=card.name, description=card.description or f"{card.name} image classifier",
        version=f"edgekit {package_version('edgekit') or 'unknown'}, {precision}", author="edgekit",
        license=card.license, input_size=pre.crop, color=pre.color, mean=pre.mean, std=pre.std,
        labels_file=labels_name, num_classes=card.num_classes)
    data = populate(data, meta, files, io_names=("input", "logits"))
    return data, {"written": True, "labels": labels_name, "mean": list(pre.mean), "std": list(pre.std),
                  "color": pre.color}


def _nhwc(report: dict) -> bool:
    shp = report["inputs"][0]["shape"] if report["inputs"] else []
    return len(shp) == 4 and shp[-1] in (1, 3, 4) and shp[1] not in (1, 3, 4)
