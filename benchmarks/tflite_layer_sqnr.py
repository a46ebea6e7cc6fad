"""Per-layer SQNR of an int8 .tflite against the fp32 .tflite of the same export: which layer
loses the signal. Both files come from the same Keras twin, so tensors share names; every
tensor of the int8 file is dequantized and compared with its fp32 namesake on real inputs.

The int8 file's model was channel-equalized first (quantize/prepare.py), which rescales some
channels inside conv pairs; each channel is therefore compared after its best-fit scale
(q_c ~ s_c f_c), so a rescaled channel is not mistaken for quantization noise.

    PYTHONPATH=src python benchmarks/tflite_layer_sqnr.py FP32.tflite INT8.tflite INPUTS.npy [--top 8]
"""
from __future__ import annotations

import argparse
import json

import numpy as np


def tensors(path: str, x_nchw: np.ndarray) -> dict[str, np.ndarray]:
    """Every float or dequantized tensor of ``path`` for each input, stacked by name."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=path, experimental_preserve_all_tensors=True, num_threads=1)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    out: dict[str, list] = {}
    for x in x_nchw:
        feed = x.transpose(1, 2, 0)[None]
        scale, zero = inp["quantization"]
        if inp["dtype"] != np.float32:
            feed = np.clip(np.round(feed / scale + zero), np.iinfo(inp["dtype"]).min,
                           np.iinfo(inp["dtype"]).max).astype(inp["dtype"])
        it.set_tensor(inp["index"], feed.astype(inp["dtype"]))
        it.invoke()
        for d in it.get_tensor_details():
            if not d["shape"].size or d["shape"][0] != 1:
                continue  # weights and constants
            try:
                t = it.get_tensor(d["index"])
            except ValueError:
                continue
            s, z = d["quantization"]
            if t.dtype != np.float32:
                if not s:
                    continue
                t = (t.astype(np.float32) - z) * s
            out.setdefault(d["name"], []).append(t.astype(np.float32))
    return {k: np.concatenate(v) for k, v in out.items()}


def sqnr_db(f: np.ndarray, q: np.ndarray) -> float:
    """SQNR after a best-fit scale per channel (last axis)."""
    f2, q2 = f.reshape(-1, f.shape[-1]), q.reshape(-1, q.shape[-1])
    s = (f2 * q2).sum(0) / np.maximum((f2 * f2).sum(0), 1e-12)
    signal, noise = ((s * f2) ** 2).sum(), ((q2 - s * f2) ** 2).sum()
    return float(10 * np.log10(signal / noise)) if noise > 0 else float("inf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fp32")
    ap.add_argument("int8")
    ap.add_argument("inputs", help=".npy of model-ready NCHW float32 inputs (a few dozen)")
    ap.add_argument("--top", type=int, default=8)
    args = ap.parse_args()
    x = np.load(args.inputs)
    f, q = tensors(args.fp32, x), tensors(args.int8, x)
    rows = [{"tensor": k, "shape": list(f[k].shape[1:]), "sqnr_db": round(sqnr_db(f[k], q[k]), 2)}
            for k in f if k in q and f[k].shape == q[k].shape]
    print(json.dumps({"matched_tensors": len(rows), "all": rows,
                      "lowest": sorted(rows, key=lambda r: r["sqnr_db"])[:args.top]}, indent=2))


if __name__ == "__main__":
    main()
