"""TFLite int8 with chosen layers kept float: QuantConfig.exclude (source layer names, as
`edgekit explain` prints them: ``features.14.conv.2``, ``features.16`` for block 16's residual
Add, ``classifier.1``) mapped to the calibrated model's ops, whose output tensor names are the
``denylisted_nodes`` of TF's MLIR quantizer (the names TF's QuantizationDebugger denylists).

A conv's output tensor carries its fused activation (``...features.14.conv.1.2_1/Relu6;
...features.14.conv.1.0_1/BiasAdd;...``), so denylisting that one node keeps conv and activation
float. A depthwise conv's explicit PAD (``features.14.conv.1.0_pad``) goes with its layer: left
int8 between two float layers it would requantize a float tensor. The quantizer puts
DEQUANTIZE / QUANTIZE around each float island; the file's I/O stays as asked.

Per-layer 16x8 is not offered: TF's 16x8 mode (EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_
WEIGHTS_INT8) is whole-model, and the MLIR quantizer takes one inference type per call, so float
is the per-layer fallback.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from ..formats.tflite import operator_names, schema
from ..inspect.tflite_inspect import source_layer
from ..inspect.tflite_layers import LAYER_OPS, module_of


@dataclass(frozen=True)
class TfliteOp:
    index: int  # operator index in subgraph 0
    op: str  # TFLite builtin name
    node: str  # output tensor name: the MLIR quantizer's node name
    layer: str  # source layer name (explain's "module"); "" for the root's pooling
    aliases: frozenset  # other source names inside the node's fused name (the activation module)


def layer_ops(model_bytes: bytes) -> list[TfliteOp]:
    """Every op of subgraph 0 with its source layer, named as tflite_layers names explain's rows."""
    model = schema().Model.GetRootAsModel(model_bytes, 0)
    codes = operator_names(model)
    sg = model.Subgraphs(0)
    out = []
    for o in range(sg.OperatorsLength()):
        op = sg.Operators(o)
        ins = [i for i in op.InputsAsNumpy().tolist() if i >= 0] if op.InputsLength() else []
        outs = op.OutputsAsNumpy().tolist() if op.OutputsLength() else []
        if not outs:
            continue
        node = _name(sg.Tensors(outs[0]))
        weight = _name(sg.Tensors(ins[1])) if len(ins) > 1 else ""
        layer = source_layer(node, weight)
        named = node if "/" in node or not weight else weight
        aliases = frozenset(module_of(p) for p in named.split(";")) - {layer, ""}
        out.append(TfliteOp(o, codes[op.OpcodeIndex()], node, layer, aliases))
    return out


def denylist(ops: list[TfliteOp], exclude) -> dict[str, list[TfliteOp]]:
    """{source name: the ops kept float for it}; ConfigError naming valid names for an unknown one."""
    layers = [op.layer for op in ops if op.op in LAYER_OPS and op.layer]
    valid = set(layers) | {a for op in ops if op.op in LAYER_OPS for a in op.aliases}
    unknown = [name for name in exclude if name not in valid]
    if unknown:
        examples = list(dict.fromkeys(layers))
        some = examples[:3] + (["..."] if len(examples) > 6 else []) + examples[-3:]
        raise ConfigError(f"tflite int8: no layer named '{unknown[0]}' to keep in float; layers are named as "
                          f"`edgekit explain` prints them, e.g. {', '.join(some)}")
    return {name: [op for op in ops if op.layer == name or name in op.aliases] for name in exclude}


def _name(tensor) -> str:
    n = tensor.Name()
    return n.decode("utf-8", "replace") if n else ""
