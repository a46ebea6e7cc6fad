"""Inspect a .pte file: what the XNNPACK delegate runs and what stays on ExecuTorch's portable kernels.

The file's own instructions (formats/executorch.read_program): a delegate call runs a whole
lowered subgraph in the backend, a kernel call is one operator outside any delegate. The
sidecar, when present, adds the per-operator split recorded at export (get_delegation_info).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..formats.executorch import read_program


def inspect_executorch(path) -> dict:
    path = Path(path)
    program = read_program(path)
    forward = program["methods"].get("forward") or next(iter(program["methods"].values()), {})
    delegates, kernels = forward.get("delegate_calls", {}), forward.get("kernel_calls", {})
    recorded = _sidecar_delegation(path)
    summary = (f"{sum(delegates.values())} delegate call(s) ({', '.join(f'{k} x{n}' for k, n in delegates.items()) or 'none'}), "
               f"{sum(kernels.values())} operator(s) on portable kernels"
               + (f" ({', '.join(f'{k} x{n}' for k, n in kernels.items())})" if kernels else ""))
    details = [f"program: {len(program['methods'])} method(s): {', '.join(program['methods'])}"]
    if recorded:
        details.append(f"at export: {recorded['delegated_nodes']} graph nodes delegated to {recorded['backend']}, "
                       f"{recorded['not_delegated_nodes']} not"
                       + (f" (not delegated: {', '.join(recorded['not_delegated_ops'])})" if recorded["not_delegated_ops"] else ""))
    return {"file": str(path), "format": "executorch", "size_bytes": path.stat().st_size,
            "program": program, "delegation": recorded, "details": details,
            "inputs": [], "outputs": [], "operators": {**delegates, **kernels}, "tensor_dtypes": {},
            "verdict": {"precision": recorded["precision"] if recorded else "unknown (no edgekit sidecar)",
                        "fully_int8": None, "fully_delegated": not kernels and bool(delegates), "summary": summary}}


def _sidecar_delegation(path: Path):
    sc = path.with_name(path.name + ".edgekit.json")
    try:
        doc = json.loads(sc.read_text())
    except (OSError, ValueError):
        return None
    d = (doc.get("meta") or {}).get("delegation")
    return {**d, "precision": doc.get("precision")} if isinstance(d, dict) else None
