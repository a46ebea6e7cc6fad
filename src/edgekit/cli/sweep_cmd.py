"""`edgekit sweep`: models x formats x precisions x devices x threads on Ray, resumable.

    edgekit sweep --models mobilenet_v2,squeezenet1_1 --formats onnx,tflite --precisions fp32,int8 \\
        --devices local,ssh://pi --input-size 96 --min-runs 10
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import ConfigError
from . import params
from .common import emit, handle_errors, json_option, progress, table
from .results_options import command_line, db_options, open_db


def _list(values) -> tuple:
    """Repeatable flags, each also comma-separated: --models a,b --models c."""
    return tuple(v.strip() for value in values for v in value.split(",") if v.strip())


def _weights(values) -> tuple:
    out = []
    for v in values:
        model, sep, path = v.partition("=")
        if not sep or not model or not path:
            raise ConfigError(f"--weights takes MODEL=PATH, e.g. --weights mobilenet_v2=mobilenet_v2.pth; got '{v}'")
        out.append((model, path))
    return tuple(out)


def _threads(values) -> tuple:
    """--threads 1,2 --threads 4: each value already checked by params.THREAD_LIST."""
    return tuple(t for v in values for t in v)


_MATRIX = [
    click.option("--config", "config", type=click.Path(path_type=Path), help="A TOML file with the matrix (flags win)."),
    click.option("--models", multiple=True, help="Zoo models, comma-separated, or 'all' (see `edgekit models`)."),
    click.option("--formats", multiple=True, help="onnx, tflite, openvino (comma-separated)."),
    click.option("--precisions", multiple=True, help="fp32, int8 (fp16, int16x8: TFLite). Default fp32."),
    click.option("--devices", multiple=True, metavar="URIS",
                 help="local, ssh://[user@]host[:port], adb://SERIAL (comma-separated)."),
    click.option("--threads", multiple=True, type=params.THREAD_LIST, help="Thread counts, e.g. 1,2 (each a job). Default 1."),
    click.option("--input-size", type=params.PIXELS, help="Square input size for every model (smaller is faster)."),
    click.option("--weights", multiple=True, metavar="MODEL=PATH",
                 help="A local checkpoint for a model; others are random-init (seeded)."),
]
_BENCH = [
    click.option("--profile", type=click.Choice(["default", "mlperf"]), help="Bench profile (as `edgekit bench`)."),
    click.option("--min-runs", type=params.RUNS, help="Minimum timed runs per bench job."),
    click.option("--min-seconds", type=params.SECONDS, help="Minimum timed seconds per bench job."),
    click.option("--warmup", "warmup_runs", type=params.WARMUP_RUNS, help="Warm-up runs."),
    click.option("--warmup-seconds", type=params.SECONDS, help="Warm-up seconds."),
    click.option("--processes", type=params.PROCESSES, help="Fresh processes per bench job, runs pooled (default 3)."),
]
_RUN = [
    click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("edgekit-sweep"), show_default=True,
                 help="Exported files (OUT/files) and the report (OUT/report)."),
    click.option("--force", is_flag=True, help="Redo jobs whose results are already in the database."),
    click.option("--dry-run", is_flag=True, help="Print the job list (done / todo) and stop."),
    click.option("--export-only", is_flag=True, help="Export and validate the matrix; no benchmarks."),
    click.option("--ray-address", help="Join a Ray cluster: auto, HOST:PORT or ray://HOST:PORT. Default: Ray "
                                       "in-process on this machine."),
    click.option("--num-cpus", type=params.THREADS, help="CPUs of the in-process Ray (default: this machine's)."),
    click.option("--object-store-mb", type=params.Number(int, 50, 1_000_000, "MB"), default=400, show_default=True,
                 help="Object store of the in-process Ray (files travel through it; Ray spills to disk beyond)."),
    click.option("--ssh-config", type=click.Path(path_type=Path), envvar="EDGEKIT_SSH_CONFIG",
                 help="ssh config for ssh:// devices on this node (other nodes: their EDGEKIT_SSH_CONFIG)."),
    click.option("--adb-server-port", type=params.PORT, help="adb server port on this node (default $ANDROID_ADB_SERVER_PORT)."),
    click.option("--benchmark-binary", type=click.Path(path_type=Path), help="TFLite benchmark_model for adb devices."),
    click.option("--verbose", is_flag=True, help="Also print every task's progress lines."),
]


def _options(fn):
    for o in reversed(_MATRIX + _BENCH + _RUN):
        fn = o(fn)
    return fn


@click.command("sweep")
@_options
@db_options(label="Name this sweep in the results database.")
@json_option
@handle_errors
def command(config, models, formats, precisions, devices, threads, input_size, weights, profile, min_runs,
            min_seconds, warmup_runs, warmup_seconds, processes, out_dir, force, dry_run, export_only, ray_address,
            num_cpus, object_store_mb, ssh_config, adb_server_port, benchmark_binary, verbose, label, db_path,
            no_record, as_json):
    """Export, validate and bench every combination, on Ray: exports run in parallel (one CPU
    each), each device runs one bench at a time, failures are reported without stopping the
    rest, and a re-run skips every job whose result is already in the results database."""
    from ..sweep import SweepMatrix, dry_run as list_jobs, from_toml

    if no_record:
        raise ConfigError("A sweep records every job (that is how a re-run resumes); use --db PATH for a "
                          "database of its own instead of --no-record")
    base = from_toml(config) if config else SweepMatrix()
    bench = dict(base.bench)
    if profile:
        from ..runtime_bench.config import PROFILES

        bench.update(min_runs=PROFILES[profile][0], min_seconds=PROFILES[profile][1])
    bench.update({k: v for k, v in (("min_runs", min_runs), ("min_seconds", min_seconds), ("warmup_runs", warmup_runs),
                                    ("warmup_seconds", warmup_seconds), ("processes", processes)) if v is not None})
    matrix = base.merged(models=_list(models), formats=_list(formats), precisions=_list(precisions),
                         devices=_list(devices), threads=_threads(threads), input_size=input_size,
                         weights=_weights(weights), bench=tuple(bench.items()))
    if dry_run:
        return emit(list_jobs(matrix, db_path, export_only, force), as_json, _human_jobs)
    from ..devices import DeviceOptions
    from ..sweep import run_sweep

    db = open_db(db_path)
    options = DeviceOptions(ssh_config=ssh_config, adb_server_port=adb_server_port, benchmark_binary=benchmark_binary)
    try:
        result = run_sweep(matrix, out_dir, db, export_only=export_only, force=force, ray_address=ray_address,
                           num_cpus=num_cpus, device_options=options, label=label, command=command_line(),
                           verbose=verbose, object_store_mb=object_store_mb, progress=progress)
    except KeyboardInterrupt:
        progress(f"interrupted: every job that finished is recorded in {db.path}; run the same command again "
                 "to resume")
        sys.exit(130)
    emit(result, as_json, _human)
    if result.failures:
        sys.exit(1)


def _human_jobs(doc: dict) -> str:
    cols = [("status", "status"), ("kind", "kind"), ("name", "job"), ("key", "key")]
    lines = [table(doc["jobs"], cols), f"{doc['todo']} of {doc['total']} jobs to run"]
    return "\n".join(lines + [f"note: {n}" for n in doc["notes"]])


def _human(result) -> str:
    from ..sweep.summary import table_rows
    from .accuracy_view import interval, pct

    lines = []
    if result.plan.benches and result.results:
        rows, devices = table_rows(result.plan, result.results, result.failures)
        rows = [{**r, "top1": pct(r.get("top1")), "top1_ci95": interval(r.get("top1_ci95"))} for r in rows]
        short = [d.partition("?")[0] for d in devices]  # the ?python=/?tmpdir= settings make long headers
        names = short if len(set(short)) == len(short) else devices
        cols = [("model", "model"), ("format", "format"), ("precision", "prec"), ("threads", "thr"),
                ("top1", "top-1 agree"), ("top1_ci95", "95% CI"), ("cosine", "cosine"), ("sqnr_db", "SQNR dB"),
                ("size_mb", "MB")] + [(d, f"{n} ms") for d, n in zip(devices, names)]
        lines += [table(rows, cols), "ms: p50 per inference; * = mean (benchmark_model prints no percentiles)"]
        blank = sorted({r["model"] for r in rows if r.get("constant_outputs")})
        if blank:
            lines.append(f"top-1 agree '-' for {', '.join(blank)}: the float model's outputs were constant on the "
                         "validation images (random-init weights?), so agreement says nothing; give --weights")
    elif result.files:  # --export-only
        cols = [("model", "model"), ("format", "format"), ("precision", "prec"), ("top1_agreement", "top-1 agree"),
                ("top1_agreement_ci95", "95% CI"), ("cosine_mean", "cosine"), ("sqnr_db", "SQNR dB"),
                ("samples", "images"), ("path", "file")]
        files = [{**f, "top1_agreement": pct(f.get("top1_agreement")),
                  "top1_agreement_ci95": interval(f.get("top1_agreement_ci95"))} for f in result.files]
        lines.append(table(files, cols))
    for f in result.failures:
        lines.append(f"FAILED {f['job']}: {f['error']}")
    t = result.timings
    lines.append(f"sweep run {result.run_id}: {len(result.results)} bench results "
                 f"({result.resumed['benches']} resumed), {len(result.failures)} failed; "
                 f"wall {t.get('wall_s', 0):.0f} s" + (f", exports {t['export_wall_s']:.0f} s" if 'export_wall_s' in t
                                                       else "") + (f", Ray start {t['ray_startup_s']:.1f} s"
                                                                   if 'ray_startup_s' in t else ""))
    if result.report:
        lines.append(f"report: {result.report['html']} (and {result.report['md']}); files in {result.out_dir}/files")
    return "\n".join(lines)
