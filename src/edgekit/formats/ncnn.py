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

EXTRA = "ncnn"
INT8_REFUSAL = ("ncnn int8 needs ncnn's ncnn2table and ncnn2int8 tools, which neither the pnnx nor the ncnn "
                "wheel ships (and Debian has no ncnn package); export ncnn fp32/fp16, or int8 to another format")


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
    # pnnx's converter binary, called directly: pnnx.export() would then import the Python file it
    # generates (model_pnnx.py), which is not even valid Python for an nn.Sequential ("self.0 = ...").
    shape = "[" + ",".join(str(int(d)) for d in example.shape) + "]f32"
    argv = [pnnx.EXEC_PATH, "model.pt", f"inputshape={shape}", "device=cpu", "optlevel=2"] + ([] if fp16 else ["fp16=0"])
    try:
        proc = subprocess.run(argv, cwd=staging, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        raise UnsupportedError("pnnx did not finish converting this model within 30 minutes") from None
    if proc.returncode != 0 or not param.is_file() or not weights.is_file():
        tail = " ".join((proc.stdout + proc.stderr).split()[-30:])
        raise UnsupportedError(f"pnnx wrote no ncnn model for this module (exit {proc.returncode}; "
                               f"{tail[-200:] or 'no output'})")
    lines = param.read_text().splitlines()
    layers = [ln.split()[0] for ln in lines[2:] if ln.strip()]
    _record_input_shape(param, lines, input_shape)
    os.replace(weights, Path(final).with_suffix(".bin"))
    os.replace(param, final)
    return {"converter": f"pnnx {getattr(pnnx, '__version__', '')}".strip(), "layers": len(layers),
            "weights_dtype_on_disk": "fp16" if fp16 else "fp32"}


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
