"""p50 latency of int8 files against a baseline file, 1 thread, batch 1, runs interleaved.

    PYTHONPATH=src python benchmarks/int8_latency_pairs.py BASE FILE [FILE ...] [--runs 300]

Each file is opened with edgekit's engine for its format (ONNX Runtime, TFLite interpreter
with XNNPACK, OpenVINO CPU with the f32 hint), warmed up, then every round runs each file once
in turn, so load from other jobs on the machine hits all files alike. Prints each file's p50
and its ratio to BASE (the figure to read on a shared machine).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import _int8_eval as ev


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--runs", type=int, default=300)
    args = ap.parse_args()
    from edgekit.runtime_bench.engines import open_engine

    x = ev.photos(ev.folded_mobilenet().card).arrays[:1]
    engines = [open_engine(Path(f), None, threads=1) for f in args.files]
    for e in engines:
        for _ in range(20):
            e.run(x)
    times = [[] for _ in engines]
    for _ in range(args.runs):
        for i, e in enumerate(engines):
            t0 = time.perf_counter()
            e.run(x)
            times[i].append(time.perf_counter() - t0)
    base = np.median(times[0])
    for f, t in zip(args.files, times):
        print(f"| {f} | {1000 * np.median(t):.2f} ms | {np.median(t) / base:.3f} |")


if __name__ == "__main__":
    main()
