"""The accuracy table: every trained zoo model (benchmarks/train_zoo_fashion_mnist.py) x format
(ONNX, TFLite, OpenVINO) x precision (fp32, int8; TFLite also fp16 and int16x8), exported with
edgekit's pipeline (calibration on Fashion-MNIST training images, never test images), then
run on the 10,000 test images: top-1 against the labels, top-1 agreement with the float
PyTorch model, the drop in points with a 95% interval (paired per image), file size and p50
latency at 1 thread (edgekit's bench: fresh runner processes).

    PYTHONPATH=src python benchmarks/fashion_mnist_accuracy_table.py [--models a,b] [--calib 300]
        [--cache ~/.cache/edgekit/trained/fashion_mnist] [--out DIR] [--no-int16x8]

Writes DIR/accuracy_table.md and DIR/accuracy_table.json; finished models are kept in
DIR/rows/ARCH.json (and their validations and runner results in DIR/rows/ARCH.results.json)
and skipped on a re-run. A model whose rows predate the results file is evaluated again from
its files (not re-exported). Every file's validation on the 10,000 test images and its bench
result go into a results database made afresh each run (DIR/results.sqlite, one export run and
one bench run labelled "fashion-mnist table"), so that

    edgekit report --db DIR/results.sqlite --run "fashion-mnist table" --out DIR/report

gives the same table (top-1 against the labels, the drop with its paired interval, agreement,
cosine, SQNR, size, latency) as Markdown and HTML with plots.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_zoo_fashion_mnist import DEFAULT_CACHE, PLAN, checkpoint_of  # noqa: E402

FORMATS = ["onnx", "tflite", "openvino"]


def model_ready(loaded, split: str, limit=None, pick=None) -> tuple[np.ndarray, np.ndarray]:
    from edgekit.data.fashion_mnist import read_fashion_mnist
    from edgekit.train.augment import model_inputs

    pre = loaded.card.preprocess
    x, y, _ = read_fashion_mnist(split, pre.resize, limit=limit)
    if pick is not None:
        x, y = x[pick], y[pick]
    return model_inputs(x, pre).numpy(), y


def calibration_indices(n: int) -> np.ndarray:
    """``n`` training images spread over the set (fixed; calibration never sees test images)."""
    return np.linspace(0, 59_999, n).round().astype(np.int64)


def paired_drop(correct_float: np.ndarray, correct_q: np.ndarray) -> tuple[float, float, float]:
    """Float minus quantized top-1 in points, with a 95% normal interval of the paired mean."""
    d = correct_float.astype(np.float64) - correct_q.astype(np.float64)
    mean = d.mean()
    half = 1.96 * d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
    return 100 * mean, 100 * (mean - half), 100 * (mean + half)


REPORT_LABEL = "fashion-mnist table"


def test_set(loaded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 10,000 test images as the model takes them, their labels, and the float model's logits."""
    import torch

    x_test, y_test = model_ready(loaded, "test")
    with torch.no_grad():
        ref = np.concatenate([loaded.module.eval()(torch.from_numpy(x_test[i:i + 500])).numpy()
                              for i in range(0, len(x_test), 500)])
    return x_test, y_test, ref


def rows_for(arch: str, cache: Path, out: Path, calib_n: int, int16x8: bool = True) -> tuple[list[dict], dict]:
    """Export every file of ``arch``, then evaluate them (rows, results: evaluate's)."""
    import torch

    from edgekit.export import TfliteOptions
    from edgekit.pipeline import DataOptions, export
    from edgekit.quantize import QuantConfig
    from edgekit.zoo import get_model

    torch.set_num_threads(1)
    loaded = get_model(arch, checkpoint_of(cache, arch))
    work = out / "files" / arch
    work.mkdir(parents=True, exist_ok=True)
    calib, _ = model_ready(loaded, "train", pick=calibration_indices(calib_n))
    np.save(work / "calib.npy", calib)
    x_test, y_test, ref = test_set(loaded)
    np.save(work / "eval.npy", x_test[:200])  # the pipeline's own check; the table uses all 10,000

    def run(formats, options, where=work):
        return export(loaded, where, formats, int8=True, quant=QuantConfig(samples=calib_n),
                      data=DataOptions(calib=work / "calib.npy", eval=work / "eval.npy"), options=options,
                      progress=lambda m: print(f"{arch}: {m}", file=sys.stderr, flush=True))

    artifacts = list(run(FORMATS, (TfliteOptions(fp16=True),)).artifacts)
    refused, fallback = [], {}
    if int16x8:
        extra, fallback, refused = int16x8_files(arch, run, work)
        artifacts += extra
    else:  # --no-int16x8: 16x8 runs on TFLite's reference kernels, 10-50x slower than int8
        refused.append({"model": arch, "format": "tflite", "precision": "int16x8", "refused": "not run (--no-int16x8)"})
    rows, results = evaluate(arch, loaded, [a.path for a in artifacts], fallback, (x_test, y_test, ref))
    return rows + refused, results


def int16x8_files(arch: str, run, work: Path) -> tuple[list, dict, list]:
    """(artifacts, fallback labels, refusals) of the TFLite int16x8 export, in its own folder (a
    rerun must not overwrite the int8 file). The converter has no 16x8 kernel for some ops
    (MobileNetV3's HARD_SWISH): then the row is the file a user gets with --float-fallback (those
    ops float), and says so."""
    from edgekit.errors import UnsupportedError
    from edgekit.export import TfliteOptions

    try:
        return [a for a in run(["tflite"], (TfliteOptions(int16x8=True),), work / "int16x8").artifacts
                if a.precision == "int16x8"], {}, []
    except UnsupportedError as exc:
        print(f"{arch}: int16x8 refused ({exc}); again with --float-fallback", file=sys.stderr, flush=True)
    try:
        extra = [a for a in run(["tflite"], (TfliteOptions(int16x8=True, float_fallback=True),),
                                work / "int16x8_fallback").artifacts if a.precision == "int16x8"]
        return extra, {str(a.path): "int16x8 + float fallback" for a in extra}, []
    except UnsupportedError as exc2:
        return [], {}, [{"model": arch, "format": "tflite", "precision": "int16x8", "refused": str(exc2)}]


def evaluate(arch: str, loaded, paths: list, fallback: dict, test=None) -> tuple[list[dict], dict]:
    """Every file on the 10,000 test images and timed at 1 thread: the table's rows, and for the
    results database each file's validation (edgekit's own metrics.agreement, labels included)
    and runner result."""
    from edgekit.runtime_bench.engines import open_engine
    from edgekit.runtime_bench.metrics import agreement

    x_test, y_test, ref = test if test is not None else test_set(loaded)
    names = [f"test_{i:05d}" for i in range(len(y_test))]
    labels = {n: {int(c)} for n, c in zip(names, y_test)}
    float_correct = ref.argmax(1) == y_test
    rows = [{"model": arch, "format": "torch", "precision": "fp32 (reference)", "top1": float(float_correct.mean()),
             "agree": 1.0, "drop": 0.0, "drop_lo": 0.0, "drop_hi": 0.0, "mb": None, "p50_ms": None}]
    bench = _bench(paths)
    latency = {r["file"]: r["stats"]["p50_ms"] for r in bench}
    accuracy = {}
    for path in paths:
        eng = open_engine(Path(path), threads=1)
        try:
            outs = np.concatenate([eng.run(x_test[i:i + 500]) for i in range(0, len(x_test), 500)])
            runtime = {"engine": eng.name, "runtime_version": eng.runtime_version}
        finally:
            eng.close()
        acc = {**agreement(ref, outs, names, labels), **runtime,
               "data": {"eval": "fashion-mnist test (10,000 images, Debian dataset-fashion-mnist)"}}
        accuracy[str(path)] = acc
        q_correct = outs.argmax(1) == y_test
        drop, lo, hi = paired_drop(float_correct, q_correct)
        art = _artifact(path)
        rows.append({"model": arch, "format": art.format, "precision": fallback.get(str(path), art.precision),
                     "top1": float(q_correct.mean()), "agree": float((outs.argmax(1) == ref.argmax(1)).mean()),
                     "drop": drop, "drop_lo": lo, "drop_hi": hi, "mb": _megabytes(Path(path)),
                     "p50_ms": latency.get(str(path)), "file": str(path), "images": len(y_test)})
    return rows, {"accuracy": accuracy, "bench": bench}


def _artifact(path):
    from edgekit.export.artifact import Artifact

    return Artifact.load(Path(path))


def _bench(paths) -> list[dict]:
    """edgekit bench's own results (the sidecar's model, format and precision attached)."""
    from edgekit.runtime_bench.bench import bench
    from edgekit.runtime_bench.measure import BenchConfig

    cfg = BenchConfig(threads=(1,), min_runs=50, min_seconds=1.0, processes=1)
    return [r.to_dict() for r in bench([Path(p) for p in paths], cfg).results]


def results_again(arch: str, cache: Path, rows: list[dict]) -> tuple[list[dict], dict]:
    """Rows written before the results file existed: evaluate their files again (not re-exported)."""
    import torch

    from edgekit.zoo import get_model

    torch.set_num_threads(1)
    loaded = get_model(arch, checkpoint_of(cache, arch))
    paths = [r["file"] for r in rows if r.get("file")]
    fallback = {r["file"]: r["precision"] for r in rows if r.get("file") and "fallback" in r["precision"]}
    new_rows, results = evaluate(arch, loaded, paths, fallback)
    return new_rows + [r for r in rows if r.get("refused")], results


def record(db_path: Path, results: list[dict]) -> None:
    """A fresh results database (temp file, then renamed) with every file's validation and bench."""
    import os

    from edgekit.report.db import ResultsDB

    arts, bench = [], []
    for res in results:
        for path, acc in res["accuracy"].items():
            art = _artifact(path)
            art.meta = {**art.meta, "accuracy": acc}
            arts.append(art)
        bench += res["bench"]
    tmp = db_path.with_name(db_path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    with ResultsDB(tmp) as db:
        db.record_export(arts, label=REPORT_LABEL, command="benchmarks/fashion_mnist_accuracy_table.py")
        db.record_bench(bench, label=REPORT_LABEL, command="benchmarks/fashion_mnist_accuracy_table.py")
    os.replace(tmp, db_path)


def _megabytes(path: Path) -> float:
    """The file, and for OpenVINO IR its .bin of weights beside the .xml."""
    files = [path] + ([path.with_suffix(".bin")] if path.suffix == ".xml" else [])
    return sum(f.stat().st_size for f in files) / 1e6


def markdown(rows: list[dict]) -> str:
    lines = ["| model | format | precision | top-1 % | agree with float % | drop (pts, 95% CI) | MB | p50 ms (1 thread) |",
             "|---|---|---|---:|---:|---|---:|---:|"]
    for r in rows:
        if r.get("refused"):
            lines.append(f"| {r['model']} | {r['format']} | {r['precision']} | refused: {r['refused'][:160]} | | | | |")
            continue
        drop = "-" if r["format"] == "torch" else f"{r['drop']:+.2f} [{r['drop_lo']:+.2f}, {r['drop_hi']:+.2f}]"
        lines.append(f"| {r['model']} | {r['format']} | {r['precision']} | {100 * r['top1']:.2f} | "
                     f"{100 * r['agree']:.2f} | {drop} | {_num(r['mb'], 2)} | {_num(r['p50_ms'], 3)} |")
    return "\n".join(lines) + "\n"


def _num(v, digits: int) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--out", type=Path, default=None, help="default: CACHE/table")
    ap.add_argument("--models", default="")
    ap.add_argument("--calib", type=int, default=300, help="training images used for calibration")
    ap.add_argument("--no-int16x8", action="store_true", help="skip TFLite int16x8 (reference kernels: slow)")
    args = ap.parse_args()
    out = args.out or args.cache / "table"
    (out / "rows").mkdir(parents=True, exist_ok=True)
    models = args.models.split(",") if args.models else list(PLAN)
    for arch in models:
        done, results = out / "rows" / f"{arch}.json", out / "rows" / f"{arch}.results.json"
        if done.is_file() and results.is_file():
            continue
        if done.is_file():  # rows from before the results database: evaluate the files again
            rows, res = results_again(arch, args.cache, json.loads(done.read_text()))
        elif not (args.cache / f"{arch}.json").is_file():
            print(f"{arch}: not trained yet (run benchmarks/train_zoo_fashion_mnist.py); skipped", file=sys.stderr)
            continue
        else:
            rows, res = rows_for(arch, args.cache, out, args.calib, not args.no_int16x8)
        results.write_text(json.dumps(res, default=str) + "\n")  # before the rows: they mark a model done
        done.write_text(json.dumps(rows, indent=2) + "\n")
    rows = [r for m in models if (out / "rows" / f"{m}.json").is_file()
            for r in json.loads((out / "rows" / f"{m}.json").read_text())]
    for r in rows:  # sizes as _megabytes counts them, also for rows written before it did
        if r.get("file") and Path(r["file"]).is_file():
            r["mb"] = _megabytes(Path(r["file"]))
    record(out / "results.sqlite", [json.loads((out / "rows" / f"{m}.results.json").read_text()) for m in models
                                     if (out / "rows" / f"{m}.results.json").is_file()])
    (out / "accuracy_table.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out / "accuracy_table.md").write_text(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()
