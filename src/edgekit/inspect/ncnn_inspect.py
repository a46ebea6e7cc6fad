"""Inspect an ncnn .param file: its layers by type, its input, and the weights beside it."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..errors import ConfigError
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
    weights = path.with_suffix(".bin")
    details = [f"weights: {weights.name} ({weights.stat().st_size / 1e6:.2f} MB)" if weights.is_file()
               else f"weights: {weights.name} is missing: ncnn cannot load the model without it"]
    int8 = layers.get("Quantize", 0) + layers.get("Requantize", 0) > 0
    return {"file": str(path), "format": "ncnn", "size_bytes": path.stat().st_size, "details": details,
            "inputs": [{"name": name, "shape": shape, "dtype": "float32"}],
            "outputs": [{"name": out_name, "shape": None, "dtype": "float32"}],
            "operators": dict(sorted(layers.items(), key=lambda kv: (-kv[1], kv[0]))), "tensor_dtypes": {},
            "verdict": {"precision": "int8" if int8 else "float (fp32 or fp16 weights)", "fully_int8": None,
                        "summary": f"{sum(layers.values())} layers, {len(layers)} types"}}
