"""QuantConfig.exclude holds source layer names (the torch module paths `edgekit explain` prints,
e.g. ``features.16`` or ``features.14.conv.2``); each quantizer maps them to its own nodes here.

ONNX: every compute node whose module path is the name (a Conv/Gemm, or the Add of a residual
block), plus the Clip/Relu that alone reads its output, so the layer's output is not rounded
between the layer and its activation. OpenVINO: the nodes of the same ONNX names (the IR is
converted from edgekit's ONNX export, so friendly names are ONNX node names; a Convolution is
``<onnx name>/WithoutBiases``, its bias Add carries the ONNX name).
"""
from __future__ import annotations

from ..errors import ConfigError

ONNX_COMPUTE = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Mul", "GlobalAveragePool", "AveragePool",
                "MaxPool", "Concat"}
_ACTIVATIONS = {"Clip", "Relu"}


def onnx_layer_nodes(model) -> dict[str, list[str]]:
    """Source layer name -> names of the ONNX nodes it became, in graph order (float graph)."""
    from ..inspect.onnx_layers import module_path

    inits = {i.name for i in model.graph.initializer}
    consts = {o for n in model.graph.node if n.op_type == "Constant" for o in n.output} | inits
    readers: dict[str, list] = {}
    for n in model.graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    out: dict[str, list[str]] = {}
    for n in model.graph.node:
        if n.op_type not in ONNX_COMPUTE:
            continue
        if n.op_type in ("Add", "Mul") and any(i in consts for i in n.input):
            continue  # a bias or a scale, not a layer of its own
        weight = n.input[1] if n.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul") and len(n.input) > 1 else ""
        name = module_path(n.name, weight)
        if not name:
            continue
        nodes = out.setdefault(name, [])
        nodes.append(n.name)
        after = readers.get(n.output[0], [])
        if len(after) == 1 and after[0].op_type in _ACTIVATIONS:
            nodes.append(after[0].name)
    return out


def onnx_nodes_to_exclude(model, names) -> list[str]:
    """The ONNX node names ORT must leave float for the source layers ``names``."""
    return _pick(onnx_layer_nodes(model), names)


def openvino_nodes_to_ignore(ov_model, onnx_nodes: dict[str, list[str]], names) -> list[str]:
    """The OpenVINO node names NNCF must ignore for ``names``: the friendly names carrying the
    layer's ONNX node names (with the ``/WithoutBiases`` the converter adds to a Convolution)."""
    wanted = set(_pick(onnx_nodes, names))
    return [n.get_friendly_name() for n in ov_model.get_ordered_ops()
            if n.get_type_name() != "Constant" and n.get_friendly_name().removesuffix("/WithoutBiases") in wanted]


def _pick(layer_nodes: dict[str, list[str]], names) -> list[str]:
    unknown = [n for n in names if n not in layer_nodes]
    if unknown:
        valid = list(layer_nodes)
        some = ", ".join(valid[:3] + valid[-2:]) if len(valid) > 5 else ", ".join(valid)
        raise ConfigError(f"no layer named {', '.join(repr(u) for u in unknown[:3])} in this model; layers are "
                          f"named by their torch module path as `edgekit explain` prints them ({len(valid)} "
                          f"layers, e.g. {some})")
    return [node for n in names for node in layer_nodes[n]]
