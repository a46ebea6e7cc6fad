"""Per-layer summary of a torch model: output shapes, parameters and multiply-accumulates.

One forward pass on a random input, with a forward hook on every leaf module.

What is counted as MACs (per sample, i.e. for batch 1, whatever the batch of ``input_shape``):
  * Conv1d/2d/3d, including grouped and depthwise: output elements x (in_ch / groups) x kernel
  * ConvTranspose: input elements x (out_ch / groups) x kernel
  * Linear: in_features x out_features per output row
Bias additions, BatchNorm, activations, pooling, element-wise adds/multiplies and
concatenations are NOT counted, as in torchvision's and most papers' "MACs"/"FLOPs" tables
(torchvision reports 300.77M for MobileNetV2 at 224, which is what this gives).

Modules whose forward runs outside Python (TorchScript, torch.export graphs) give no
per-layer rows; their total MACs come from counting aten conv/matmul ops during the same
pass (torch.utils.flop_counter), which agrees with the rule above for conv and linear
layers (and also counts matmuls, e.g. attention). ``macs_source`` says which was used.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

from ..errors import ConfigError


def summarize(loaded_or_module: Any, input_shape: Optional[Sequence[int]] = None) -> dict:
    """Summarize a LoadedModel or an nn.Module.

    ``input_shape`` defaults to the card's (1, 3, crop, crop) for a LoadedModel.
    Returns ``{"model", "input_shape", "rows": [{name, type, output_shape, params, macs}],
    "total_params", "trainable_params", "total_macs", "macs_source"}``.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    module, name = _unwrap(loaded_or_module)
    if input_shape is None:
        card = getattr(loaded_or_module, "card", None)
        if card is None:
            raise ConfigError("summarize() needs input_shape for a bare module, e.g. (1, 3, 224, 224)")
        input_shape = card.input_shape
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) < 2 or any(s < 1 for s in input_shape):
        raise ConfigError(f"Invalid input shape {input_shape}; expected e.g. (1, 3, 224, 224)")
    batch = input_shape[0]

    rows: list[dict] = []
    seen: set[int] = set()

    def hook(mod, inputs, output, *, _name):
        first_call = id(mod) not in seen
        seen.add(id(mod))
        rows.append({
            "name": _name,
            "type": type(mod).__name__,
            "output_shape": _shape(output),
            # a module called twice (shared) shows its parameters on its first row only
            "params": sum(p.numel() for p in mod.parameters()) if first_call else 0,
            "macs": _macs(mod, inputs, output, batch),
        })

    handles = []
    try:
        for mod_name, mod in module.named_modules():
            if next(iter(mod.children()), None) is None:  # a leaf
                handles.append(mod.register_forward_hook(_bind(hook, mod_name or type(mod).__name__)))
    except RuntimeError:  # TorchScript modules refuse Python hooks
        for h in handles:
            h.remove()
        handles = []

    was_training = getattr(module, "training", False)
    _set_training(module, False)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(input_shape, generator=gen)
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            module(x)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(
            f"Model {name or ''} failed on an input of shape {list(input_shape)} "
            f"({type(exc).__name__}: {first[:200]}). Pass the input shape the model expects"
        ) from None
    finally:
        for h in handles:
            h.remove()
        _set_training(module, was_training)

    layer_macs = sum(r["macs"] for r in rows)
    aten_macs = counter.get_total_flops() // 2
    use_layers = layer_macs > 0 or aten_macs == 0
    params = list(module.parameters())
    return {
        "model": name,
        "input_shape": list(input_shape),
        "rows": rows,
        "total_params": sum(p.numel() for p in params),
        "trainable_params": sum(p.numel() for p in params if p.requires_grad),
        "total_macs": int(layer_macs if use_layers else aten_macs),
        "macs_source": "layers" if use_layers else "aten ops (no per-layer rows)",
    }


def format_summary_table(summary: dict, max_name: int = 56) -> str:
    """A compact, Keras-like table of ``summarize()``'s result."""
    rows = summary["rows"]
    headers = ("Layer (type)", "Output shape", "Params", "MACs")
    cells = [(_clip(f"{r['name']} ({r['type']})", max_name), _fmt_shape(r["output_shape"]),
              f"{r['params']:,}" if r["params"] else "-", _human(r["macs"]) if r["macs"] else "-")
             for r in rows]
    widths = [max([len(headers[i])] + [len(c[i]) for c in cells]) for i in range(4)]

    def line(c):
        return f"{c[0]:<{widths[0]}}  {c[1]:<{widths[1]}}  {c[2]:>{widths[2]}}  {c[3]:>{widths[3]}}"

    rule_len = sum(widths) + 6
    title = f"Model: {summary.get('model') or '(unnamed)'}   input {'x'.join(map(str, summary['input_shape']))}"
    out = [title, "=" * rule_len, line(headers), "=" * rule_len]
    out += [line(c) for c in cells] or ["(no per-layer rows: the model's forward runs outside Python)"]
    total, trainable = summary["total_params"], summary["trainable_params"]
    out += [
        "=" * rule_len,
        f"Total params:         {total:,}",
        f"Trainable params:     {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        f"Total MACs:           {summary['total_macs']:,} ({_human(summary['total_macs'])}) per sample",
        "(MACs of conv and linear layers only; BatchNorm, activations, pooling and adds not counted)",
    ]
    return "\n".join(out)


# --- helpers ---------------------------------------------------------------------------

def _unwrap(obj: Any):
    from torch import nn

    if isinstance(obj, nn.Module):
        return obj, type(obj).__name__
    module = getattr(obj, "module", None)
    if isinstance(module, nn.Module):
        card = getattr(obj, "card", None)
        return module, getattr(card, "name", type(module).__name__)
    raise ConfigError(f"summarize() takes a LoadedModel or a torch.nn.Module, not {type(obj).__name__}")


def _bind(hook, name):
    return lambda mod, inputs, output: hook(mod, inputs, output, _name=name)


def _set_training(module, training: bool) -> None:
    try:
        module.train(training)
    except NotImplementedError:  # torch.export graphs are frozen in the mode they were exported in
        pass


def _macs(mod, inputs, output, batch: int) -> int:
    from torch import nn

    weight = getattr(mod, "weight", None)
    if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) and hasattr(output, "numel"):
        return output.numel() // batch * math.prod(weight.shape[1:])
    if isinstance(mod, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)) and inputs:
        return inputs[0].numel() // batch * math.prod(weight.shape[1:])
    if isinstance(mod, nn.Linear) and hasattr(output, "numel"):
        return output.numel() // batch * mod.in_features
    return 0


def _shape(output):
    if hasattr(output, "shape"):
        return list(output.shape)
    if isinstance(output, (list, tuple)):
        return [_shape(o) for o in output]
    if isinstance(output, dict):
        return {k: _shape(v) for k, v in output.items()}
    return None


def _fmt_shape(shape) -> str:
    return "-" if shape is None else str(shape).replace(" ", "")


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else "..." + text[-(n - 3):]


def _human(n: int) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)
