"""`edgekit bench FILE... [--threads 1,2] [--json]`: latency, load time, memory and size per file."""
from __future__ import annotations

import click

from . import params
from .common import emit, handle_errors, json_option, progress, table
from .device_bench import device_options, run_on_devices
from .results_options import command_line, db_options, open_db

COLUMNS = [("file", "file"), ("engine", "engine"), ("threads", "thr"), ("runs", "runs"), ("p50_ms", "p50 ms"),
           ("p90_ms", "p90 ms"), ("p99_ms", "p99 ms"), ("mean_ms", "mean"), ("std_ms", "std"), ("min_ms", "min"),
           ("max_ms", "max"), ("load_ms", "load ms"), ("first_ms", "1st ms"), ("peak_rss_mb", "peak MB"),
           ("size_mb", "size MB"), ("vs_first", "p50/1st")]


def bench_options(fn, engine: bool = True):
    from ..formats import FORMATS
    from ..runtime_bench.config import PROFILES, BenchConfig
    from ..runtime_bench.engines import ENGINES

    opts = [
        click.option("--threads", type=params.THREAD_LIST, default="1", show_default=True,
                     help="Thread counts, comma-separated, e.g. 1,2 (each at most the cores where it runs)."),
        click.option("--profile", type=click.Choice(list(PROFILES)), default="default", show_default=True,
                     help="default: >= 50 runs and >= 1 s (TFLite benchmark_model); mlperf: >= 1024 runs "
                          "and >= 60 s (MLPerf Mobile single-stream)."),
        click.option("--min-runs", type=params.RUNS, help="Override the profile's minimum timed runs."),
        click.option("--min-seconds", type=params.SECONDS, help="Override the profile's minimum timed seconds."),
        click.option("--max-seconds", type=params.LIMIT_SECONDS,
                     help=f"Stop a file's timing after this many seconds, as benchmark_model's --max_secs "
                          f"(default {BenchConfig.max_seconds:g}); a file whose load or one inference takes "
                          f"longer is stopped, its processes killed, and the bench fails."),
        click.option("--warmup", "warmup_runs", type=params.WARMUP_RUNS, help="Warm-up runs (at least). Default 1."),
        click.option("--warmup-seconds", type=params.SECONDS, help="Warm-up seconds (at least). Default 0.5."),
        click.option("--processes", type=params.PROCESSES,
                     help=f"Fresh processes per file, their runs pooled (the minimums are split among them): "
                          f"one process is one sample of memory layout, which moved medians by up to 17% "
                          f"between processes on a test machine. Host and runner.py devices; benchmark_model "
                          f"runs once. Default {BenchConfig.processes}; 1 = a single process."),
    ]
    if engine:
        defaults = ", ".join(f"{f.suffix} {f.default_engine}" + (f" in {hint}" if (hint := ENGINES.get(
            f.default_engine).precision_hint) else "") for _, f in FORMATS.items())
        opts.insert(1, click.option("--engine", type=click.Choice(ENGINES.names()),
                                    help=f"Default: by file type ({defaults})."))
    for o in reversed(opts):
        fn = o(fn)
    return fn


def bench_config(threads, profile, min_runs, min_seconds, max_seconds, warmup_runs, warmup_seconds, processes=None,
                 engine=None, interleave=True, on_host=True):
    """The BenchConfig of the flags; ``on_host``: also check the thread counts fit this host's cores
    (a device's are checked when it is reached)."""
    from ..runtime_bench.config import BenchConfig, check_threads_fit, host_cores

    cfg = BenchConfig.from_profile(profile, threads=threads, engine=engine, min_runs=min_runs,
                                   min_seconds=min_seconds, max_seconds=max_seconds, warmup_runs=warmup_runs,
                                   warmup_seconds=warmup_seconds, processes=processes, interleave=interleave)
    if on_host:
        check_threads_fit(cfg.threads, host_cores(), "this host")
    return cfg


@click.command("bench")
@click.argument("files", nargs=-1, required=True, type=params.MODEL_FILE)
@bench_options
@click.option("--no-interleave", is_flag=True, help="Measure files one after another instead of in rounds A B A B.")
@db_options(label="Name this run in the results database (for `edgekit compare LABEL`).")
@json_option
@handle_errors
@device_options
def command(files, threads, engine, profile, min_runs, min_seconds, max_seconds, warmup_runs, warmup_seconds,
            processes, no_interleave, label, db_path, no_record, as_json, devices):
    """Time FILES (.onnx, .tflite, OpenVINO .xml, ExecuTorch .pte, ncnn .param), each in fresh processes of its own.

    Several files are interleaved (rounds A B A B ...) so drift hits all alike; int8 files are
    compared with the fp32 file of the same model and format.
    """
    from ..runtime_bench.bench import bench

    cfg = bench_config(threads, profile, min_runs, min_seconds, max_seconds, warmup_runs, warmup_seconds, processes,
                       engine, interleave=not no_interleave, on_host=not devices.uris)
    db = open_db(db_path, no_record)
    if devices.wanted():  # --device URI...: measured there (cli/device_bench.py)
        return run_on_devices(files, cfg, devices, db, label, as_json)
    report = bench(list(files), cfg, progress)
    if db is not None:
        report.run_id = db.record_bench(report.results, label=label, command=command_line())
        report.db = str(db.path)
        progress(f"recorded as run {report.run_id} in {db.path}")
    emit(report, as_json, human)


def human(report) -> str:
    from ..runtime_bench.bench import result_row

    results = report.results
    first = results[0].stats.p50_ms if len(results) > 1 else None
    lines = [table([result_row(r, first) for r in results], COLUMNS if first else COLUMNS[:-1])]
    for q in report.ratios:
        lines.append(f"{q['format']} ({q['engine']}, {q['threads']} thr): {q['precision']} is {q['speedup']:.2f}x "
                     f"as fast as fp32 (p50 {q['baseline_p50_ms']:.2f} -> {q['candidate_p50_ms']:.2f} ms)")
    from ..runtime_bench.pool import unsteady_note

    note = unsteady_note([r.doc for r in results])
    if note:
        lines.append(note)
    host, procs = results[0].host, results[0].processes
    pooled = f"runs pooled from {procs} fresh processes per file" if procs > 1 else "one fresh process per file"
    lines.append(f"host: {host['cpu_model']}, {host['cores']} cores; timer: {results[0].timer}; {pooled}; "
                 f"peak MB = peak resident memory of a file's largest process")
    return "\n".join(lines)
