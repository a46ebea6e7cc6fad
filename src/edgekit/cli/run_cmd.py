"""`edgekit run MODEL --int8`: export to every format and precision, validate each against the float
model, bench each (and the float PyTorch model) at 1 thread, record, and write the report."""
from __future__ import annotations

import time
from pathlib import Path

import click

from . import params
from .bench_cmd import bench_config, bench_options
from .bench_cmd import human as bench_table
from .common import emit, handle_errors, json_option, progress
from .model_options import model_options, resolve_model
from .results_options import command_line, db_options, open_db


@click.command("run")
@click.argument("model")
@model_options
@click.option("--int8", is_flag=True, help="Also write, validate and bench int8 files.")
@click.option("--format", "formats", multiple=True, help="onnx, tflite, openvino; repeatable. Default: every installed format.")
@click.option("--calib", type=params.DATA, help="Calibration images (folder) or .npy. Default: photos shipped with edgekit.")
@click.option("--data", type=params.DATA, help="Evaluation images, disjoint from --calib. Default: a held-out part of --calib.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("edgekit-out"), show_default=True,
              help="Exported files; the report goes to OUT/report.")
@bench_options
@click.option("--no-reference", is_flag=True, help="Do not time the float PyTorch model.")
@click.option("--label", help="Name this run in the results database.")
@db_options
@json_option
@handle_errors
def command(model, int8, formats, calib, data, out_dir, threads, profile, min_runs, min_seconds, max_seconds,
            warmup_runs, warmup_seconds, processes, no_reference, label, db_path, no_record, as_json, **model_kw):
    """The whole flow for MODEL (a zoo name, or a user's model as `edgekit export` takes)."""
    from ..pipeline import DataOptions, export
    from ..quantize import QuantConfig
    from ..report.build import write_report
    from ..report.db import environment
    from ..runtime_bench.bench import bench
    from ..zoo import MODELS

    cfg = bench_config(threads, profile, min_runs, min_seconds, max_seconds, warmup_runs, warmup_seconds,
                       processes)  # flags first
    quant = QuantConfig()
    db = open_db(db_path, no_record)
    start = time.monotonic()
    loaded = resolve_model(model, **model_kw)
    result = export(loaded, out_dir, list(formats) or None, int8=int8, data=DataOptions(calib=calib, eval=data),
                    quant=quant, progress=progress)
    progress(f"run: {len(result.artifacts)} files exported and validated in {time.monotonic() - start:.0f} s")
    run_id = db.record_export(result.artifacts, kind="run", label=label, command=command_line()) if db else None
    reference = None
    if not no_reference and model in MODELS and not loaded.notes.get("preprocess_overridden"):
        reference = (model, model_kw.get("weights"))
    doc = bench([a.path for a in result.artifacts], cfg, progress, reference=reference)
    if db:
        db.record_bench(doc["results"], run_id=run_id)
    report = {"title": f"edgekit run {model}" + (f" (run {run_id})" if run_id else ""), "results": doc["results"],
              "env": environment(doc["results"]), "ratios": doc["ratios"],
              "run": {"id": run_id, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}
    written = write_report(report, Path(out_dir) / "report")
    progress(f"run: done in {time.monotonic() - start:.0f} s; report: {written['html']}")
    doc.update(export=result.to_dict(), report=written, run_id=run_id, db=str(db.path) if db else None)
    emit(doc, as_json, _human)


def _human(doc: dict) -> str:
    lines = [bench_table(doc)]
    for a in doc["export"]["artifacts"]:
        acc = a["meta"].get("accuracy") or {}
        if acc:
            n = acc["samples"]
            ci = acc.get("top1_agreement_ci95")
            sure = f", 95% CI {100 * ci[0]:.0f}-{100 * ci[1]:.0f}%" if ci else ""
            lines.append(f"{Path(a['path']).name}: top-1 agreement with float {100 * acc['top1_agreement']:.1f}% "
                         f"({round(acc['top1_agreement'] * n)}/{n} held-out images{sure}; "
                         f"cosine {acc['cosine_mean']:.4f})")
    lines.append(f"report: {doc['report']['html']} (and {doc['report']['md']})")
    if doc["run_id"]:
        lines.append(f"recorded as run {doc['run_id']} in {doc['db']}")
    return "\n".join(lines)
