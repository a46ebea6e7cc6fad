"""`edgekit explain`: the per-layer story of an int8 file edgekit made, against the float file it
wrote beside it, on evaluation images (never the calibration images the sidecar records).

The evaluation images default to the set the sidecar's accuracy report was measured on, found
again from its origin folder and checked by the hash of its names; otherwise ``--data``.
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Callable, Optional

from ..errors import ConfigError, DataError, UnsupportedError
from .data import _digests, load_images


def _silent(_msg: str) -> None:
    pass


def explain_file(path: str, data: str = "", threads: str = "1", sensitivity: str = "1") -> dict:
    """The entry _contained.call runs in a child process (string arguments)."""
    return explain(Path(path), Path(data) if data else None, int(threads), sensitivity == "1")


def explain(path: Path, data: Optional[Path] = None, threads: int = 1, with_sensitivity: bool = True,
            progress: Callable[[str], None] = _silent) -> dict:
    from ..export.artifact import Artifact, sidecar_path
    from ..inspect.onnx_layers import layer_errors

    art = Artifact.load(path)
    if not sidecar_path(path).is_file():
        raise ConfigError(f"'{path}' has no edgekit sidecar ({sidecar_path(path).name}): explain compares an int8 "
                          "file edgekit made with the float file it wrote beside it; for what is inside any "
                          f"file (ops, dtypes, int8 ranges) run `edgekit inspect {path}`")
    if art.precision != "int8":
        raise ConfigError(f"'{path}' is a {art.precision} file (its sidecar says so): explain reads an int8 file "
                          "against its float sibling; pass the int8 file edgekit exported (`--int8`)")
    if art.format not in ("onnx", "tflite", "openvino"):
        raise UnsupportedError(f"explain reads int8 ONNX, TFLite and OpenVINO files, not {art.format}; "
                               "pass the _int8.onnx, _int8.tflite or _int8.xml file of the same export")
    float_path = _float_sibling(art)
    calib = art.meta.get("calibration") or {}
    if data:
        images, checked = _given_images(art, data, calib)
        where = "--data"
    else:
        images, checked, where = _recorded_eval_images(art), True, "sidecar"
    arrays = images.arrays
    if art.meta.get("input_layout") == "NHWC" or art.format == "tflite":
        arrays = arrays.transpose(0, 2, 3, 1)
    if art.format == "tflite":
        from ..inspect.tflite_layers import layer_errors as tflite_layer_errors

        layers = tflite_layer_errors(path, float_path, arrays, threads=threads, progress=progress)
    elif art.format == "openvino":
        from ..inspect.openvino_layers import layer_errors as openvino_layer_errors

        layers = openvino_layer_errors(path, float_path, arrays, threads=threads, progress=progress)
    else:
        import onnx

        input_name = onnx.load(str(path), load_external_data=False).graph.input[0].name
        layers = layer_errors(path, float_path, arrays, input_name=input_name, threads=threads, progress=progress)
    measured = [l for l in layers if l["matched"]]
    accuracy = art.meta.get("accuracy") or {}
    ranked = None
    if with_sensitivity and art.format == "onnx":  # a graph edit; for TFLite/OpenVINO: not yet
        from ..inspect.onnx_sensitivity import sensitivity

        ranked = sensitivity(onnx.load(str(path)), onnx.load(str(float_path)), [l for l in layers if l["matched"]],
                             arrays, input_name=input_name, threads=threads, progress=progress)
    return {
        "file": str(path), "float_file": str(float_path), "format": art.format,
        "evaluation": dict(images.summary(), chosen_by=where, calibration_overlap_checked=checked),
        "calibration": calib,
        "model_output": {k: accuracy.get(k) for k in ("samples", "top1_agreement", "top1_agreement_ci95",
                                                             "cosine_mean", "sqnr_db")},
        "layers": layers,
        "sensitivity": ranked,
        "summary": {"layers": len(layers), "measured": len(measured),
                    "median_sqnr_db": statistics.median(l["sqnr_db"] for l in measured),
                    "lowest": [l["module"] or l["op"] for l in sorted(measured, key=lambda l: l["sqnr_db"])[:5]]},
    }


def _float_sibling(art) -> Path:
    """The fp32 file of the same export: same name with the precision swapped, same weights."""
    from ..export.artifact import Artifact, sidecar_path

    path = Path(art.path)
    stem, sep, tail = path.name.rpartition(f"_{art.precision}")
    sibling = path.with_name(f"{stem}_fp32{tail}") if sep else None
    if sibling is None or not sibling.is_file() or not sidecar_path(sibling).is_file():
        raise ConfigError(f"the float file of '{path.name}' ({sibling.name if sibling else '<model>_fp32.onnx'}, "
                          "with its sidecar) is not beside it: explain compares each layer with it; keep the "
                          "export's folder whole or re-export with `--int8 --format onnx`")
    twin = Artifact.load(sibling)
    if twin.precision != "fp32" or twin.source.get("weights_sha256") != art.source.get("weights_sha256"):
        raise ConfigError(f"'{sibling.name}' is not the float export of the same weights as '{path.name}' "
                          "(its sidecar says otherwise); re-export both with `--int8 --format onnx`")
    return sibling


def _recorded_eval_images(art):
    """The images the sidecar's accuracy was measured on, found again by origin and name hash."""
    from ..data import split_calibration_eval
    from ..data.sources import origin_path

    recorded = (art.meta.get("accuracy") or {}).get("data") or {}
    calib = art.meta.get("calibration") or {}
    origin = origin_path(recorded.get("origin") or "")
    fix = "pass evaluation images (not the calibration images) with --data DIR"
    if not recorded.get("origin") or not origin.exists():
        raise DataError(f"the evaluation images the sidecar records ('{recorded.get('origin')}') are not found "
                        f"from here; {fix}")
    pool = load_images(art.model_card, origin)
    if pool.summary()["sha256_of_names"] == recorded.get("sha256_of_names"):
        return pool
    if calib.get("origin") == recorded.get("origin") and len(pool) > 1 and recorded.get("count"):
        _, held_out = split_calibration_eval(pool, recorded["count"] / len(pool))  # export's own split
        if held_out.summary()["sha256_of_names"] == recorded.get("sha256_of_names"):
            return held_out
    raise DataError(f"the images in '{origin}' are no longer the evaluation set the sidecar records "
                    f"({recorded.get('count')} images, names hash {recorded.get('sha256_of_names')}); {fix}")


def _given_images(art, data: Path, calib: dict):
    """(--data, whether it was checked image by image against the calibration set): refused when
    it is, or overlaps, the calibration set the sidecar records; its folder gone, only the set's
    name hash can be compared."""
    from ..data import split_calibration_eval
    from ..data.sources import origin_path

    images = load_images(art.model_card, data)
    if calib.get("sha256_of_names") == images.summary()["sha256_of_names"]:
        raise DataError(f"'{data}' holds the {len(images)} images the file was calibrated on; explain measures on "
                        "other images: pass a folder the export did not calibrate with")
    origin = origin_path(calib.get("origin") or "")
    if calib.get("origin") and origin.exists():
        pool = load_images(art.model_card, origin)
        if pool.summary()["sha256_of_names"] != calib.get("sha256_of_names") and len(pool) > 1:
            pool, _ = split_calibration_eval(pool, 1 - calib.get("count", 0) / len(pool))
        if pool.summary()["sha256_of_names"] == calib.get("sha256_of_names"):
            overlap = set(_digests(pool)) & set(_digests(images))
            if overlap:
                raise DataError(f"{len(overlap)} of the {len(images)} images in '{data}' are calibration images of "
                                "this file; pass images it was not calibrated on")
            return images, True
    return images, False
