"""int8 vs fp32 speed of MobileNetV2 in every format, at 1 thread, as `edgekit bench` measures it.

    PYTHONPATH=src python benchmarks/bench_int8_vs_fp32.py [--out DIR] [--min-seconds 5] [--repeats 1]

All six files are measured interleaved (rounds A B C ...; each file in 3 fresh processes of
its own, runs pooled, as `edgekit bench` does by default), so machine drift hits all alike.
Prints the bench table and the int8/fp32 p50 ratios, and exits 1 if a ratio is below the
issue's floor (ORT 1.6x, TFLite 1.45x, OpenVINO 2.0x). Run it on a
quiet machine; on a shared one, say how loaded it was.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from _mobilenet_files import mobilenet_files

FLOORS = {"onnx": 1.6, "tflite": 1.45, "openvino": 2.0}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("edgekit-out/bench-mobilenet_v2"))
    ap.add_argument("--min-runs", type=int, default=50)
    ap.add_argument("--min-seconds", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()

    from edgekit.cli.bench_cmd import human
    from edgekit.runtime_bench.bench import bench
    from edgekit.runtime_bench.config import BenchConfig

    files = mobilenet_files(args.out)
    cfg = BenchConfig(threads=(1,), min_runs=args.min_runs, min_seconds=args.min_seconds)
    worst = {}
    for i in range(args.repeats):
        print(f"load average before repeat {i + 1}: {os.getloadavg()[0]:.2f}", file=sys.stderr)
        report = bench(list(files.values()), cfg, lambda m: print(m, file=sys.stderr))
        print(human(report))
        for q in report.ratios:
            worst[q["format"]] = min(q["speedup"], worst.get(q["format"], float("inf")))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    ok = True
    for fmt, floor in FLOORS.items():
        if fmt in worst:
            verdict = "ok" if worst[fmt] >= floor else "BELOW FLOOR"
            ok &= worst[fmt] >= floor
            print(f"{fmt}: int8/fp32 speed ratio {worst[fmt]:.2f}x (floor {floor}x) {verdict}")
        else:
            print(f"{fmt}: not installed, not measured")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
