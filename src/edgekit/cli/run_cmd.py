"""`edgekit run MODEL --int8`: export to every format and precision, validate each against the float
model, bench each (and the float PyTorch model) at 1 thread, record, and write the report."""
from __future__ import annotations

from pathlib import Path

import click

from . import params
from .bench_cmd import bench_config, bench_options
from .bench_cmd import human as bench_table
from .common import emit, handle_errors, json_option, progress
from .export_cmd import FORMAT_HELP, target_lines, target_of, target_options
from .model_options import model_options, resolve_model
from .results_options import command_line, db_options, open_db


@click.command("run")
@click.argument("model")
@model_options
@click.option("--int8", is_flag=True, help="Also write, validate and bench int8 files.")
@click.option("--format", "formats", multiple=True, help=FORMAT_HELP)
@click.option("--calib", type=params.DATA, help="Calibration images (folder) or .npy. Default: photos shipped with edgekit.")
@click.option("--data", type=params.DATA, help="Evaluation images, disjoint from --calib. Default: a held-out part of --calib.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("edgekit-out"), show_default=True,
              help="Exported files; the report goes to OUT/report.")
@bench_options
@click.option("--no-reference", is_flag=True, help="Do not time the float PyTorch model.")
@target_options
@db_options(label="Name this run in the results database.")
@json_option
@handle_errors
def command(model, int8, formats, calib, data, out_dir, threads, profile, min_runs, min_seconds, max_seconds,
            warmup_runs, warmup_seconds, processes, no_reference, target_agreement, max_slowdown, label, db_path,
            no_record, as_json, **model_kw):
    """The whole flow for MODEL (a zoo name, or a user's model as `edgekit export` takes)."""
    from ..pipeline import DataOptions, run

    cfg = bench_config(threads, profile, min_runs, min_seconds, max_seconds, warmup_runs, warmup_seconds,
                       processes)  # flags first
    target = target_of(target_agreement, max_slowdown, int8)
    db = open_db(db_path, no_record)
    loaded = resolve_model(model, **model_kw)
    result = run(loaded, out_dir, cfg, list(formats) or None, int8=int8, data=DataOptions(calib=calib, eval=data),
                 reference=not no_reference, db=db, label=label, command=command_line(), progress=progress,
                 target=target)
    emit(result, as_json, _human)


def _human(result) -> str:
    from .accuracy_view import accuracy_tables

    doc = result.to_dict()
    lines = [bench_table(result.bench)]
    items = [(Path(a["path"]).name, a["meta"].get("accuracy") or {}) for a in doc["export"]["artifacts"]]
    if any(acc for _, acc in items):
        lines += ["", accuracy_tables(items), ""]
    for a in doc["export"]["artifacts"]:
        lines += target_lines(a)
    lines.append(f"report: {doc['report']['html']} (and {doc['report']['md']})")
    if doc["run_id"]:
        lines.append(f"recorded as run {doc['run_id']} in {doc['db']}")
    return "\n".join(lines)
