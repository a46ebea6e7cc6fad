"""ncnn models: a .param graph with its .bin weights beside it, converted from a traced torch module by pnnx.

pnnx (the ``pnnx`` wheel) traces the module with TorchScript, converts it to ncnn and writes
many side files (its own .pnnx graph, Python re-creations, the trace); everything is written in a
staging folder and only the .param / .bin pair is moved into place, .bin first, .param last, so a
present .param always has its weights. Neither the ``pnnx`` nor the ``ncnn`` wheel ships ncnn's
int8 tools (``ncnn2table``, ``ncnn2int8``), and Debian has no ncnn package: no int8 route yet.
"""
from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path

from .._optional import require
from ..errors import UnsupportedError, first_line
from .ncnn_bin import fp32_kept, read_blobs, write_fp16

EXTRA = "ncnn"
INT8_REFUSAL = ("ncnn int8 needs ncnn's ncnn2table and ncnn2int8 tools, which neither the pnnx nor the ncnn "
                "wheel ships (and Debian has no ncnn package); export ncnn fp32/fp16, or int8 to another format")
# what edgekit's runner (runtime_bench/runner.py NcnnBackend) sets, in sidecars and `inspect`
RUNTIME_PRECISION = ("fp32 storage and arithmetic (ncnn's use_fp16_storage/packed/arithmetic and "
                     "use_bf16_storage/packed off: fp16 weights are widened to fp32 at load)")


def convert_with_pnnx(module, input_shape, final: Path, staging: Path, fp16: bool) -> dict:
    """Write ``final`` (.param) and its .bin from ``module`` (float, NCHW, batch 1); return facts."""
    pnnx = require("pnnx", extra=EXTRA)
    import torch

    staging = Path(staging)
    example = torch.zeros(1, *input_shape[1:])
    param, weights = staging / "model.ncnn.param", staging / "model.ncnn.bin"  # pnnx's names beside model.pt
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.jit.trace(module.eval(), example).save(str(staging / "model.pt"))
    except Exception as exc:
        raise UnsupportedError(f"pnnx could not trace this model (TorchScript): {first_line(exc)}") from None
    shape = "[" + ",".join(str(int(d)) for d in example.shape) + "]f32"
    _run_pnnx(pnnx, staging, shape, fp16=False)
    facts = _fp16_weights(pnnx, staging, shape, param, weights) if fp16 else {}
    lines = param.read_text().splitlines()
    layers = [ln.split()[0] for ln in lines[2:] if ln.strip()]
    _record_input_shape(param, lines, input_shape)
    facts.update({"converter": f"pnnx {getattr(pnnx, '__version__', '')}".strip(), "layers": len(layers),
                  "weights_dtype_on_disk": "fp16" if fp16 else "fp32", "runtime_precision": RUNTIME_PRECISION})
    os.replace(weights, Path(final).with_suffix(".bin"))
    os.replace(param, final)
    return facts


def _fp16_weights(pnnx, staging: Path, shape: str, param: Path, weights: Path) -> dict:
    """Turn pnnx's fp32 ``weights`` into fp16 ones, the smallest blobs kept fp32 (formats/ncnn_bin.py);
    where edgekit cannot walk the .bin, pnnx's own fp16 weights (every weight blob fp16)."""
    blobs, arrays, why = read_blobs(param, weights)
    if why:
        _run_pnnx(pnnx, staging, shape, fp16=True)  # same graph; only the .bin differs
        return {"fp16_writer": f"pnnx, every weight blob fp16 ({why})", "fp32_weight_blobs": []}
    keep = fp32_kept(blobs)
    mixed = weights.with_name("model.fp16.bin")
    write_fp16(mixed, blobs, arrays, keep)
    os.replace(mixed, weights)
    total = sum(b.count for b in blobs)
    return {"fp16_writer": "edgekit (round to nearest even)",
            "fp32_weight_blobs": [b.layer for b in blobs if b.layer in keep],
            "fp32_weight_fraction": round(sum(b.count for b in blobs if b.layer in keep) / total, 5),
            "weight_blobs": len(blobs)}


def _run_pnnx(pnnx, staging: Path, shape: str, fp16: bool) -> None:
    # pnnx's converter binary, called directly: pnnx.export() would then import the Python file it
    # generates (model_pnnx.py), which is not even valid Python for an nn.Sequential ("self.0 = ...").
    argv = [pnnx.EXEC_PATH, "model.pt", f"inputshape={shape}", "device=cpu", "optlevel=2", f"fp16={int(fp16)}"]
    try:
        proc = subprocess.run(argv, cwd=staging, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        raise UnsupportedError("pnnx did not finish converting this model within 30 minutes") from None
    if proc.returncode != 0 or not all((staging / f"model.ncnn.{ext}").is_file() for ext in ("param", "bin")):
        tail = " ".join((proc.stdout + proc.stderr).split()[-30:])
        raise UnsupportedError(f"pnnx wrote no ncnn model for this module (exit {proc.returncode}; "
                               f"{tail[-200:] or 'no output'})")


def _record_input_shape(param: Path, lines: list[str], input_shape) -> None:
    """Write the input shape into the Input layer (ncnn's 0=W 1=H 2=C), which pnnx leaves out, so the
    file says what it takes (the runner and ``inspect`` read it there)."""
    _, c, h, w = input_shape
    for i, ln in enumerate(lines[2:], start=2):
        fields = ln.split()
        if fields and fields[0] == "Input" and not any(f.startswith("0=") for f in fields[5:]):
            lines[i] = f"{ln.rstrip()} 0={w} 1={h} 2={c}"
            break
    param.write_text("\n".join(lines) + "\n")
