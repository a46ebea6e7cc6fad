"""Inspect an ncnn .param file: its layers by type, its input, and the weights beside it, blob by blob."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..errors import ConfigError
from ..formats.ncnn import RUNTIME_PRECISION
from ..formats.ncnn_bin import read_blobs
from ..runtime_bench.runner import RunnerError, ncnn_io


def inspect_ncnn(path) -> dict:
    path = Path(path)
    lines = path.read_text(errors="replace").splitlines()
    if not lines or lines[0].strip() != "7767517" or len(lines) < 2:
        raise ConfigError(f"'{path}' is not an ncnn .param file (its first line is not the magic 7767517)")
    layers = Counter(ln.split()[0] for ln in lines[2:] if ln.strip())
    try:
        name, out_name, shape = ncnn_io(str(path))
    except RunnerError as exc:
        raise ConfigError(str(exc)) from None
    int8 = layers.get("Quantize", 0) + layers.get("Requantize", 0) > 0
    weights, dtypes = _weights(path)
    float_kind = {("fp16",): "fp16 weights", ("fp32",): "fp32 weights"}.get(tuple(sorted(dtypes)), "float weights")
    if set(dtypes) == {"fp16", "fp32"}:
        float_kind = f"fp16 weights, {dtypes['fp32']} of {sum(dtypes.values())} weight blobs fp32"
    return {"file": str(path), "format": "ncnn", "size_bytes": path.stat().st_size,
            "details": weights + [f"runtime: edgekit's runner computes in {RUNTIME_PRECISION}"],
            "inputs": [{"name": name, "shape": shape, "dtype": "float32"}],
            "outputs": [{"name": out_name, "shape": None, "dtype": "float32"}],
            "operators": dict(sorted(layers.items(), key=lambda kv: (-kv[1], kv[0]))),
            "tensor_dtypes": {"float16" if k == "fp16" else "float32": n for k, n in dtypes.items()},
            "verdict": {"precision": "int8" if int8 else float_kind, "fully_int8": None,
                        "summary": f"{sum(layers.values())} layers, {len(layers)} types"}}


def _weights(path: Path) -> tuple[list[str], Counter]:
    """Lines on the .bin beside ``path`` and its weight blobs by dtype (biases are always fp32)."""
    weights = path.with_suffix(".bin")
    if not weights.is_file():
        return [f"weights: {weights.name} is missing: ncnn cannot load the model without it"], Counter()
    head = f"weights: {weights.name} ({weights.stat().st_size / 1e6:.2f} MB)"
    blobs, _, why = read_blobs(path, weights)
    if why:
        return [f"{head}; blob dtypes not read: {why}"], Counter()
    dtypes = Counter(b.dtype for b in blobs)
    fp32 = [b.layer for b in blobs if b.dtype == "fp32"]
    lines = [f"{head}: {len(blobs)} weight blobs, " + ", ".join(f"{n} {k}" for k, n in sorted(dtypes.items()))
             + "; biases fp32"]
    if dtypes.get("fp16") and fp32:
        lines.append(f"fp32 weight blobs: {', '.join(fp32)}")
    return lines, dtypes
