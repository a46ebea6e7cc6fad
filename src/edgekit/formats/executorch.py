"""ExecuTorch programs (.pte): a torch.export graph lowered to the XNNPACK delegate, and what a .pte holds.

``lower_to_xnnpack`` returns the program's bytes and which operators the delegate took
(ExecuTorch's own ``get_delegation_info`` on the lowered graph); ``read_program`` reads a .pte
back with ExecuTorch's flatbuffer schema: its instructions are delegate calls (the backend runs a
whole subgraph) or kernel calls (an operator run by ExecuTorch's portable kernels, outside any delegate).
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from collections import Counter
from pathlib import Path

from .._optional import require
from .._quiet import captured_stderr
from ..errors import ConfigError, UnsupportedError, first_line

EXTRA = "executorch"


@contextlib.contextmanager
def quiet():
    """torchao's CUDA-only libraries fail to load (harmless, not needed) and ExecuTorch logs its
    passes: both on stderr or as warnings, none of it the user's business."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), captured_stderr():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def lower_to_xnnpack(exported_program) -> tuple[bytes, dict]:
    """(.pte bytes, delegation summary) of a torch.export program lowered to XNNPACK."""
    exir = require("executorch.exir", extra=EXTRA)
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info

    try:
        edge = exir.to_edge_transform_and_lower(exported_program, partitioner=[XnnpackPartitioner()])
        info = get_delegation_info(edge.exported_program().graph_module)
        program = edge.to_executorch()
    except Exception as exc:  # exir raises many types; the first line names the op
        raise UnsupportedError(f"ExecuTorch could not lower this model: {first_line(exc)}") from None
    by_op = {op: {"delegated": b.delegated, "not_delegated": b.non_delegated}
             for op, b in sorted(info.delegation_by_operator.items())}
    return program.buffer, {"backend": "XnnpackBackend", "delegated_subgraphs": info.num_delegated_subgraphs,
                            "delegated_nodes": info.num_delegated_nodes,
                            "not_delegated_nodes": info.num_non_delegated_nodes,
                            "not_delegated_ops": sorted(op for op, b in by_op.items() if b["not_delegated"]
                                                        and not op.startswith(("getitem", "executorch_call"))),
                            "by_operator": by_op}


def read_program(path: Path) -> dict:
    """What a .pte runs: its delegate calls by backend and its kernel calls by operator, per method."""
    require("executorch", extra=EXTRA)
    from executorch.exir._serialize._program import deserialize_pte_binary
    from executorch.exir.schema import DelegateCall, KernelCall

    try:
        with quiet():
            program = deserialize_pte_binary(Path(path).read_bytes()).program
        plans = list(program.execution_plan)
    except Exception as exc:  # a truncated or foreign file fails inside the flatbuffer reader (or reads as empty)
        raise ConfigError(f"'{path}' is not a readable ExecuTorch program ({first_line(exc)}); re-export it") from None
    methods = {}
    for plan in plans:
        delegates, kernels = Counter(), Counter()
        for chain in plan.chains:
            for ins in chain.instructions:
                arg = ins.instr_args
                if isinstance(arg, DelegateCall):
                    delegates[plan.delegates[arg.delegate_index].id] += 1
                elif isinstance(arg, KernelCall):
                    op = plan.operators[arg.op_index]
                    kernels[op.name + (f".{op.overload}" if op.overload else "")] += 1
        methods[plan.name] = {"delegate_calls": dict(delegates), "kernel_calls": dict(kernels),
                              "inputs": len(plan.inputs), "outputs": len(plan.outputs)}
    return {"version": program.version, "methods": methods}
