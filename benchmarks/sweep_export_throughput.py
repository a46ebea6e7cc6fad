"""Export throughput of `edgekit sweep`: the export part of a matrix with 2 Ray workers, with 1,
and as a shell loop of `edgekit export` (one command per model, every format, --int8).

    PYTHONPATH=src python benchmarks/sweep_export_throughput.py --work DIR [--models all] [--input-size 64]
        [--formats onnx,tflite,openvino] [--weights MODEL=PATH ...] [--skip 1,loop]

Each variant starts from an empty output folder and database and exports and validates every
(model, format, precision) file of the matrix once (fp32 and int8). Reported per variant: the
wall time of the command, and for the sweeps the span from the first export task's start to
the last one's end (what Ray's workers spent; the command adds Python and Ray start-up), plus
the machine's load average before and after: this machine is shared, say so when quoting.
The 2-worker run's folder and database are kept (DIR/ray2): a full sweep with
--out DIR/ray2/out --db DIR/ray2/r.sqlite resumes from its files instead of exporting again.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _edgekit(*args: str) -> list[str]:
    return [sys.executable, "-m", "edgekit.cli.main", *args]


def _run(argv: list[str], log: Path) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.monotonic()
    with log.open("a") as err:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    return time.monotonic() - t0, proc


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def sweep_variant(work: Path, name: str, cpus: int, matrix: list[str]) -> dict:
    d = work / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    before = _load()
    wall, proc = _run(_edgekit("sweep", *matrix, "--export-only", "--num-cpus", str(cpus), "--out", str(d / "out"),
                               "--db", str(d / "r.sqlite"), "--json"), d / "stderr.log")
    if proc.returncode != 0:
        raise SystemExit(f"{name}: edgekit sweep failed (exit {proc.returncode}); see {d / 'stderr.log'}")
    doc = json.loads(proc.stdout)
    return {"variant": f"sweep, {cpus} Ray worker(s)", "wall_s": round(wall, 1),
            "export_span_s": doc["timings"].get("export_wall_s"), "ray_start_s": doc["timings"].get("ray_startup_s"),
            "files": len(doc["files"]), "failed": len(doc["failures"]), "load_before": before, "load_after": _load()}


def loop_variant(work: Path, models: list[str], formats: list[str], size: int, weights: dict) -> dict:
    d = work / "loop"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    before, files, t0 = _load(), 0, time.monotonic()
    fmt = [a for f in formats for a in ("--format", f)]
    for m in models:  # what a shell loop does: one process per model, one after another
        w = ("--weights", weights[m]) if m in weights else ()
        _, proc = _run(_edgekit("export", m, *fmt, "--int8", "--input-size", str(size), *w, "--out", str(d / m),
                                "--json"), d / "stderr.log")
        if proc.returncode == 0:
            files += len(json.loads(proc.stdout)["artifacts"])
    return {"variant": "shell loop of edgekit export", "wall_s": round(time.monotonic() - t0, 1),
            "export_span_s": None, "ray_start_s": None, "files": files, "failed": None, "load_before": before,
            "load_after": _load()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--models", default="all")
    ap.add_argument("--formats", default="onnx,tflite,openvino")
    ap.add_argument("--input-size", type=int, default=64)
    ap.add_argument("--weights", action="append", default=[], metavar="MODEL=PATH",
                    help="a checkpoint for a model (as edgekit sweep --weights); others random-init (seeded)")
    ap.add_argument("--skip", default="", help="comma-separated: 2, 1, loop")
    a = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from edgekit.zoo import MODELS

    models = MODELS.names() if a.models == "all" else a.models.split(",")
    formats = a.formats.split(",")
    matrix = ["--models", ",".join(models), "--formats", ",".join(formats), "--precisions", "fp32,int8",
              "--input-size", str(a.input_size), *[x for w in a.weights for x in ("--weights", w)]]
    weights = dict(w.split("=", 1) for w in a.weights)
    skip = set(a.skip.split(","))
    rows = []
    for cpus in (2, 1):
        if str(cpus) not in skip:
            rows.append(sweep_variant(a.work, f"ray{cpus}", cpus, matrix))
            print(json.dumps(rows[-1]), flush=True)
    if "loop" not in skip:
        rows.append(loop_variant(a.work, models, formats, a.input_size, weights))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{len(models)} models x {formats} x fp32,int8 at {a.input_size}x{a.input_size}, {os.cpu_count()} cores")
    print(f"{'variant':32} {'wall s':>8} {'exports s':>10} {'Ray start s':>12} {'files':>6}  load before -> after")
    for r in rows:
        print(f"{r['variant']:32} {r['wall_s']:>8} {str(r['export_span_s'] or '-'):>10} {str(r['ray_start_s'] or '-'):>12} "
              f"{r['files']:>6}  {r['load_before']} -> {r['load_after']}")


if __name__ == "__main__":
    main()
