"""Which channels can be rescaled without changing an ONNX graph's function (see equalize.py).

A group is a set of activation tensors whose channel c can be multiplied by d_c if every
producer Conv multiplies its output channel c (weight row and bias) by d_c and every
consumer Conv divides its input channel c by d_c. Returned with weight initializer names,
so the caller can apply the scales to whatever holds the weights (torch parameters here).
"""
from __future__ import annotations


def find_groups(model) -> list[dict]:
    """[{kind: "linear"|"clip", cap, producers: [weight names], consumers: [(weight, kind)]}]"""
    from onnx import helper, numpy_helper

    g = model.graph
    inits = {i.name: i for i in g.initializer}
    consts = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in g.node
              if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"}
    consts.update({k: numpy_helper.to_array(v) for k, v in inits.items()})
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in g.node:
        for t in n.input:
            consumers.setdefault(t, []).append(n)
    graph_outputs = {o.name for o in g.output}

    def conv_with_bias(n):
        return (n is not None and n.op_type == "Conv" and len(n.input) == 3
                and n.input[1] in inits and n.input[2] in inits)

    def consumer_kind(n, t):
        if n.op_type != "Conv" or n.input[0] != t or n.input[1] not in inits:
            return None
        groups = next((helper.get_attribute_value(a) for a in n.attribute if a.name == "group"), 1)
        dims = inits[n.input[1]].dims
        if groups == 1:
            return "dense"
        return "depthwise" if groups == dims[0] and dims[1] == 1 else None

    out: list[dict] = []
    seen: set[str] = set()
    for n in g.node:  # linear groups: Conv outputs joined by Adds, read by Convs/Adds only
        if n.op_type != "Conv" or n.output[0] in seen:
            continue
        tensors, stack, prods, cons, ok = set(), [n.output[0]], [], [], True
        while stack and ok:
            t = stack.pop()
            if t in tensors:
                continue
            tensors.add(t)
            p = producer.get(t)
            if t in graph_outputs or p is None:
                ok = False
            elif p.op_type == "Add":
                stack += list(p.input)
            elif conv_with_bias(p):
                prods.append(p.input[1]) if p.input[1] not in prods else None
            else:
                ok = False
            for c in consumers.get(t, []) if ok else []:
                kind = consumer_kind(c, t)
                if c.op_type == "Add":
                    stack += [c.output[0], *c.input]
                elif kind and (c.input[1], kind) not in cons:
                    cons.append((c.input[1], kind))
                elif not kind:
                    ok = False
        seen |= tensors
        if ok and cons:
            out.append({"kind": "linear", "cap": None, "producers": prods, "consumers": cons})
    for n in g.node:  # Conv -> Clip(0, M) / Relu -> depthwise Convs only
        if n.op_type not in ("Clip", "Relu"):
            continue
        p = producer.get(n.input[0])
        if not conv_with_bias(p) or len(consumers.get(n.input[0], [])) != 1 or n.output[0] in graph_outputs:
            continue
        cap = None
        if n.op_type == "Clip":
            lo = consts.get(n.input[1]) if len(n.input) > 1 and n.input[1] else None
            hi = consts.get(n.input[2]) if len(n.input) > 2 and n.input[2] else None
            if lo is None or float(lo) != 0.0:
                continue
            cap = float(hi) if hi is not None else None
        readers = consumers.get(n.output[0], [])
        if readers and all(consumer_kind(c, n.output[0]) == "depthwise" for c in readers):
            cons = [(c.input[1], "depthwise") for c in readers]
            out.append({"kind": "clip", "cap": cap, "producers": [p.input[1]], "consumers": cons})
    return out
