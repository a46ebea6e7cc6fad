"""Output-aware activation ranges for an ORT QDQ file: coordinate descent on the logits' error.

Each activation scale (the QuantizeLinear/DequantizeLinear pair's shared scale, zero point
kept, so the range [lo, hi] scales about zero) is multiplied in turn by each of FACTORS; the
factor with the lowest logit MSE against the float model on the calibration images is kept
(consumers' int32 biases follow their input scale). ONNX Runtime runs every candidate, so
what is optimised is the function of the file that ships.
"""
from __future__ import annotations

import numpy as np
import torch

from _qdq_sim import QdqGraph
from _seq_requant import _get_bias, _set_bias

FACTORS = (0.8, 0.9, 1.12, 1.25)


def search(model, arrays: np.ndarray, reference: np.ndarray, factors=FACTORS, rounds: int = 1, log=None) -> dict:
    """Edit ``model`` (ONNX ModelProto, ORT QDQ) in place; return {scale name: factor kept}."""
    g = QdqGraph(model)
    scales = []
    for n in g.nodes:
        if n.op_type == "QuantizeLinear" and n.input[0] not in g.inits and n.input[1] not in scales:
            scales.append(n.input[1])
    readers = {}  # scale -> convs/gemms whose activation input uses it (their bias grid follows)
    for n in g.nodes:
        if n.op_type in ("Conv", "Gemm") and len(n.input) > 2 and n.input[0] in g.producer:
            readers.setdefault(g.producer[n.input[0]].input[1], []).append(n)
    kept = {}
    best = _error(g, arrays, reference)
    start = best
    for _ in range(rounds):
        for s in scales:
            base = g.inits[s].clone()
            biases = {id(n): _get_bias(g, n) for n in readers.get(s, [])}
            choice = 1.0
            for f in factors:
                _scale(g, s, base * f, readers.get(s, []), biases)
                e = _error(g, arrays, reference)
                if e < best:
                    best, choice = e, f
            _scale(g, s, base * choice, readers.get(s, []), biases)
            if choice != 1.0:
                kept[s] = kept.get(s, 1.0) * choice
            if log:
                log(f"{s}: x{choice} -> {10 * np.log10(np.sum(reference ** 2) / best):.2f} dB")
    g.write_back()
    return {"factors": kept, "sqnr_before": _db(reference, start), "sqnr_after": _db(reference, best)}


def _db(ref, err):
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / err))


def _scale(g, name, value, convs, biases):
    g.inits[name] = value
    for n in convs:
        _set_bias(g, n, biases[id(n)])


def _error(g, arrays, reference) -> float:
    import onnxruntime as ort

    g.write_back()
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(g.model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    got = sess.run(None, {g.input: arrays})[0]
    return float(np.sum((got.astype(np.float64) - reference) ** 2))


__all__ = ["search", "torch"]
