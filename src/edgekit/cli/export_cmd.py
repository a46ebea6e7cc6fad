"""`edgekit export MODEL`: fold BN, export each format, quantize, validate against float."""
from __future__ import annotations

from pathlib import Path

import click

from .common import emit, handle_errors, json_option, progress, table
from .model_options import model_options, resolve_model
from .results_options import command_line, db_options, open_db


@click.command("export")
@click.argument("model")
@model_options
@click.option("--format", "formats", multiple=True, help="onnx, tflite, openvino; repeatable. Default: every installed format.")
@click.option("--int8", is_flag=True, help="Also write int8 files (post-training quantization).")
@click.option("--calib", type=click.Path(path_type=Path), help="Calibration images (folder) or .npy. Default: photos shipped with edgekit.")
@click.option("--data", type=click.Path(path_type=Path), help="Evaluation images, disjoint from --calib. Default: a held-out part of --calib.")
@click.option("--calib-method", default="minmax", show_default=True, help="minmax, percentile or entropy.")
@click.option("--calib-samples", default=100, show_default=True, help="Calibration images used at most.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("edgekit-out"), show_default=True)
@db_options
@json_option
@handle_errors
def command(model, formats, int8, calib, data, calib_method, calib_samples, out_dir, db_path, no_record, as_json,
            **model_kw):
    """Export MODEL (a zoo name, a TorchScript/.pt2 file, or package.module:factory)."""
    from ..pipeline import DataOptions, export
    from ..quantize import QuantConfig

    quant = QuantConfig(method=calib_method, samples=calib_samples)  # validate flags first
    db = open_db(db_path, no_record)  # an unusable database fails before the slow work
    loaded = resolve_model(model, **model_kw)
    result = export(loaded, out_dir, list(formats) or None, int8=int8,
                    data=DataOptions(calib=calib, eval=data), quant=quant, progress=progress)
    if db:
        db.record_export(result.artifacts, command=command_line())
    emit(result.to_dict(), as_json, _human)


def _human(doc: dict) -> str:
    rows = []
    for a in doc["artifacts"]:
        acc = a["meta"].get("accuracy", {})
        rows.append({"file": a["path"], "precision": a["precision"],
                     "size_mb": Path(a["path"]).stat().st_size / 1e6,
                     "top1_agree": acc.get("top1_agreement"), "top5_agree": acc.get("top5_agreement"),
                     "cosine": acc.get("cosine_mean"), "sqnr_db": acc.get("sqnr_db"),
                     "n": acc.get("samples")})
    head = f"BatchNorm folded: {doc['fold_bn'].get('folded')} layers"
    cols = [("file", "file"), ("precision", "precision"), ("size_mb", "MB"), ("top1_agree", "top-1 agree"),
            ("top5_agree", "top-5 agree"), ("cosine", "cosine"), ("sqnr_db", "SQNR dB"), ("n", "images")]
    return head + "\n" + table(rows, cols) + "\n(agreement with the float model on held-out real images)"
