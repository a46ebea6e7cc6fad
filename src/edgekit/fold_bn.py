"""Fold BatchNorm into the preceding Conv2d / Linear, as an explicit, checked step.

Pairs are found from the data flow of one forward pass (a BN whose input tensor is the
output of a Conv2d/Linear), not from module order, so any module structure works. Each
pair is folded in place (conv gets the BN's scale and shift, BN becomes Identity) and the
whole model is then checked numerically against the unfolded copy: a fold that changed
the outputs (e.g. the conv output was also used elsewhere) raises instead of shipping.
Dropout is replaced by Identity too: it is a no-op in eval mode, and some converters
(litert-torch int8) mis-handle it.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

from .errors import UnsupportedError

TOLERANCE = 1e-4  # of the logit range, per the spine issue


@dataclass
class FoldReport:
    folded: int
    pairs: list[tuple[str, str]]
    dropouts_removed: int
    max_abs_diff: float
    logit_range: float
    skipped: str = ""

    @property
    def relative_diff(self) -> float:
        return self.max_abs_diff / max(self.logit_range, 1e-12)

    def to_dict(self) -> dict:
        return {"folded": self.folded, "dropouts_removed": self.dropouts_removed,
                "max_abs_diff": self.max_abs_diff, "relative_diff": self.relative_diff,
                **({"skipped": self.skipped} if self.skipped else {})}


def fold_batchnorm(module, example, check: bool = True, tolerance: float = TOLERANCE):
    """Return (folded copy of ``module``, FoldReport). ``example`` is an input tensor."""
    import torch
    from torch import nn

    if not _hookable(module):
        # TorchScript / torch.export graphs take no Python hooks and cannot be edited here;
        # the ONNX/TFLite converters fold their BatchNorm at export instead.
        return module, FoldReport(0, [], 0, 0.0, 0.0, skipped="scripted or exported graph: folded by the converter")
    try:
        module = module.eval()
    except NotImplementedError:  # torch.export modules are frozen in the mode they were exported in
        pass
    folded = copy.deepcopy(module)
    pairs = _find_pairs(folded, example)
    names = dict((m, n) for n, m in folded.named_modules())
    with torch.no_grad():
        for producer, bn in pairs:
            _fold_pair(producer, bn)
            _replace(folded, names[bn], nn.Identity())
    dropouts = [n for n, m in folded.named_modules() if isinstance(m, nn.Dropout) and n]
    for n in dropouts:
        _replace(folded, n, nn.Identity())
    max_diff, rng = 0.0, 0.0
    if check:
        with torch.no_grad():
            ref = module(example)
            got = folded(example)
        max_diff = float((ref - got).abs().max())
        rng = float(ref.max() - ref.min())
        if max_diff > tolerance * max(rng, 1e-12):
            raise UnsupportedError(
                f"BatchNorm folding changed the outputs (max diff {max_diff:.3g}, logit range {rng:.3g}); "
                "a folded layer's output is probably used elsewhere. Export with --no-fold to skip folding"
            )
    report = FoldReport(len(pairs), [(names[p], names[b]) for p, b in pairs], len(dropouts), max_diff, rng)
    return folded, report


def _hookable(module) -> bool:
    import torch

    return not isinstance(module, torch.jit.ScriptModule)


def _find_pairs(model, example):
    import torch
    from torch import nn

    # Holding the output tensor keeps its id() from being reused by a later tensor.
    producers: dict[int, tuple] = {}
    pairs: list = []
    hooks = []

    def on_producer(mod, _inp, out):
        producers[id(out)] = (mod, out)

    def on_bn(mod, inp, _out):
        src = producers.get(id(inp[0]), (None, None))[0]
        if src is not None and mod.track_running_stats and mod.running_mean is not None:
            pairs.append((src, mod))

    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            hooks.append(m.register_forward_hook(on_producer))
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            hooks.append(m.register_forward_hook(on_bn))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in hooks:
            h.remove()
    seen, unique = set(), []
    for p, b in pairs:  # a module called twice must be folded once
        if id(b) not in seen:
            seen.add(id(b))
            unique.append((p, b))
    return unique


def _fold_pair(producer, bn) -> None:
    import torch
    from torch import nn

    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps) if bn.affine else 1.0 / torch.sqrt(bn.running_var + bn.eps)
    shift = (bn.bias if bn.affine else 0.0) - bn.running_mean * scale
    shape = (-1,) + (1,) * (producer.weight.dim() - 1)
    producer.weight.mul_(scale.reshape(shape))
    bias = producer.bias if producer.bias is not None else torch.zeros_like(bn.running_mean)
    new_bias = bias * scale + shift
    if producer.bias is None:
        producer.bias = nn.Parameter(new_bias)
    else:
        producer.bias.copy_(new_bias)


def _replace(root, dotted: str, new) -> None:
    parent_name, _, child = dotted.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)
