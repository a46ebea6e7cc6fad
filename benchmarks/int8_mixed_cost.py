"""What keeping some MobileNetV2 layers in float costs and buys (ONNX Runtime), both halves.

    PYTHONPATH=src python benchmarks/int8_mixed_cost.py [--prep eq+gptq+bc] [--runs 200]

Quantizes the int8-prepared fp32 ONNX export with the best pure-int8 ONNX recipe of
docs/int8_accuracy.md (averaged min/max ranges, exact input range, bias correction) and
ORT's nodes_to_exclude for each set below, judges each file on the held-out half (and its 6
variants) and times it against the pure-int8 file: ORT, 1 thread, batch 1, the two sessions'
runs interleaved so machine load hits both alike (p50 ratio; the machine is shared, so the
ratio is the figure to read, not the milliseconds).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import _int8_eval as ev


def _blocks(*ks):
    convs = ["conv/conv.0/conv.0.0/Conv", "conv/conv.1/conv.1.0/Conv", "conv/conv.2/Conv"]
    return [f"/features/features.{k}/{c}" for k in ks for c in convs] + [f"/features/features.{k}/Add" for k in ks]


SETS = {
    "first conv": ["/features/features.0/features.0.0/Conv"],
    "classifier": ["/classifier/classifier.1/Gemm"],
    "first conv + classifier": ["/features/features.0/features.0.0/Conv", "/classifier/classifier.1/Gemm"],
    "blocks 15-16": _blocks(15, 16),
    "blocks 14-17": _blocks(14, 15, 16, 17),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prep", default="eq+gptq+bc")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--sets", default=",".join(SETS))
    args = ap.parse_args()
    from _int8_experiments import onnx_full_input

    loaded = ev.folded_mobilenet()
    splits = ev.halves(loaded, aug=True)
    td = Path(tempfile.mkdtemp(prefix="edgekit-mixed-"))
    names = ["pure int8"] + args.sets.split(",")
    files = {}
    for s in splits:
        for name in names:
            d = td / f"{s.name}_{name.replace(' ', '_')}"
            d.mkdir()
            files[(s.name, name)] = onnx_full_input(loaded, s, d, ranges="avgminmax", prep=args.prep,
                                                    exclude=SETS.get(name, ()))
    print("| kept in float | pooled | 6 variants, pooled | p50 vs pure int8 (1 thread) |")
    print("|---|---|---|---|")
    for name in names:
        parts = [ev.figures(s.reference, ev.run_file(files[(s.name, name)], s.evalset.arrays)) for s in splits]
        augs = [ev.figures(s.aug_reference, ev.run_file(files[(s.name, name)], s.aug)) for s in splits]
        ratio = 1.0 if name == "pure int8" else _ratio(files[("A", "pure int8")], files[("A", name)],
                                                         splits[0].evalset.arrays[:1], args.runs)
        print(f"| {name} | {ev.fmt(ev.pooled(parts))} | {ev.fmt(ev.pooled(augs))} | {ratio:.3f} |", flush=True)


def _ratio(base, other, x, runs) -> float:
    import onnxruntime as ort

    sess = []
    for p in (base, other):
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.log_severity_level = 3
        sess.append(ort.InferenceSession(str(p), so, providers=["CPUExecutionProvider"]))
    t = [[], []]
    for s in sess:
        for _ in range(10):
            s.run(None, {"input": x})
    for _ in range(runs):
        for i, s in enumerate(sess):
            t0 = time.perf_counter()
            s.run(None, {"input": x})
            t[i].append(time.perf_counter() - t0)
    return float(np.median(t[1]) / np.median(t[0]))


if __name__ == "__main__":
    main()
