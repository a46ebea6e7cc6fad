"""TFLite from PyTorch vs TF's own Keras model: MobileNetV2 int8 speed, and export wall time.

    PYTHONPATH=src python benchmarks/bench_tflite_mobilenet_v2.py [--out DIR] [--min-seconds 5] [--repeats 2]

1. Times `edgekit export mobilenet_v2 --weights W --format tflite --int8` (a fresh process,
   wall clock, as a user runs it; fp32 + int8 files, validation included). Target: <= 30 s.
2. Converts keras.applications.MobileNetV2 (weights=None: no download; same 224x224x3 input,
   1000 classes) to full-integer int8 with TF's converter as its docs show
   (from_keras_model, representative dataset, int8 I/O), calibrated on the same photos.
3. Measures both int8 files at 1 thread with `edgekit bench`'s interleaved runner (each file
   in its own process, rounds A B A B). Target: edgekit's file within 1.05x of TF's.
   (Keras' model ends in a softmax; edgekit's outputs logits: one 1000-element op apart.)
Prints the load average: on a shared machine, quote it with the numbers.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SPEED_TARGET = 1.05
EXPORT_TARGET_S = 30.0


def time_export(out: Path, weights: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "edgekit.cli.main", "export", "mobilenet_v2", "--weights", str(weights),
           "--format", "tflite", "--int8", "--out", str(out), "--no-record"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"export failed:\n{proc.stderr[-2000:]}")
    print(proc.stdout)
    return wall


def keras_reference(out: Path) -> Path:
    """TF's converter on keras.applications.MobileNetV2, the documented full-integer recipe."""
    import numpy as np

    from edgekit.data import default_photos
    from edgekit._optional import import_tf
    from edgekit.zoo.card import Preprocess

    tf = import_tf()
    import keras

    path = out / "keras_applications_mobilenet_v2_int8.tflite"
    if path.is_file():
        return path
    model = keras.applications.MobileNetV2(input_shape=(224, 224, 3), weights=None)
    # keras' MobileNetV2 preprocessing: pixels scaled to [-1, 1]
    photos = default_photos(Preprocess(crop=224, resize=256, mean=(127.5,) * 3, std=(127.5,) * 3))

    def representative():
        for a in photos.arrays:
            yield [np.ascontiguousarray(a.transpose(1, 2, 0)[None], np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # Keras prints the exported signature
        data = conv.convert()
    print(f"TF converter (from_keras_model) int8: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    path.write_bytes(data)
    return path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("edgekit-out/bench-tflite-mobilenet_v2"))
    ap.add_argument("--min-runs", type=int, default=100)
    ap.add_argument("--min-seconds", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    from _mobilenet_files import weights_path
    from edgekit.inspect.tflite_inspect import inspect_tflite
    from edgekit.runtime_bench.bench import bench
    from edgekit.runtime_bench.config import BenchConfig

    args.out.mkdir(parents=True, exist_ok=True)
    print(f"load average before export: {os.getloadavg()[0]:.2f}")
    wall = time_export(args.out / "edgekit", weights_path())
    print(f"export --format tflite --int8 (fp32 + int8, validated): {wall:.1f} s wall "
          f"({'ok' if wall <= EXPORT_TARGET_S else 'OVER'} target {EXPORT_TARGET_S:.0f} s); "
          f"load average after: {os.getloadavg()[0]:.2f}")

    ours = args.out / "edgekit" / "mobilenet_v2_int8.tflite"
    theirs = keras_reference(args.out)
    for name, p in (("edgekit (PyTorch -> Keras twin)", ours), ("TF converter on keras.applications", theirs)):
        r = inspect_tflite(p)
        print(f"{name}: {r['verdict']['precision']}, {r['transpose_ops']} Transpose, ops {r['operators']}")

    cfg = BenchConfig(threads=(1,), min_runs=args.min_runs, min_seconds=args.min_seconds)
    ratios = []
    for i in range(args.repeats):
        print(f"load average before timing round {i + 1}: {os.getloadavg()[0]:.2f}")
        report = bench([ours, theirs], cfg, lambda m: print(m, file=sys.stderr))
        p50 = {Path(r.file).name: r.stats.p50_ms for r in report.results}
        ratio = p50[ours.name] / p50[theirs.name]
        ratios.append(ratio)
        print(f"  1 thread p50: edgekit {p50[ours.name]:.2f} ms, keras.applications {p50[theirs.name]:.2f} ms, "
              f"ratio {ratio:.3f}")
    best, worst = min(ratios), max(ratios)
    ok = worst <= SPEED_TARGET and wall <= EXPORT_TARGET_S
    print(f"int8 speed ratio edgekit / keras.applications: {best:.3f}-{worst:.3f} "
          f"(target <= {SPEED_TARGET}); export {wall:.1f} s (target <= {EXPORT_TARGET_S:.0f} s): "
          f"{'ok' if ok else 'NOT MET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
