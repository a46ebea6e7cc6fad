"""Where training starts: a fresh zoo model, or its backbone from a checkpoint with a new head.

The head is the last Linear/Conv2d of the module (every zoo model ends in its classifier:
``classifier.1`` / ``classifier.3`` / ``fc`` / ``head.fc``). A checkpoint's head is kept only
when it was trained by ``edgekit train`` on the same class names in the same order.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..errors import WeightsError


def head_prefix(module) -> str:
    from torch import nn

    last = None
    for name, m in module.named_modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            last = name
    if last is None:
        raise WeightsError("This model has no Linear/Conv2d layer to use as its classifier head")
    return last + "."


def build(card, classes: tuple[str, ...], weights: Optional[Path] = None, progress=lambda m: None):
    """(module in train mode, init summary) for ``card``'s architecture with len(classes) outputs."""
    from .._files import sha256
    from ..zoo.weights import read_checkpoint

    module = card.builder(num_classes=len(classes))
    _keep_logits_alive(module)
    if weights is None:
        return module, {"from": "scratch"}
    state, saved_card = read_checkpoint(Path(weights))
    head = head_prefix(module)
    same_classes = bool(saved_card) and tuple(saved_card.get("labels") or ()) == tuple(classes)
    expected = module.state_dict()
    backbone = {k: v for k, v in expected.items() if not k.startswith(head)}
    missing = [k for k in backbone if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        first = f"missing key '{missing[0]}'" if missing else f"unexpected key '{unexpected[0]}'"
        trained_for = f" (trained for {saved_card.get('name')})" if saved_card else ""
        raise WeightsError(f"Weights '{weights}'{trained_for} do not fit {card.name}: {first} "
                           f"({len(missing)} missing, {len(unexpected)} unexpected). "
                           f"Pass a checkpoint of {card.name}, or train from scratch without --weights")
    for k, v in backbone.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise WeightsError(f"Weights '{weights}' do not fit {card.name}: key '{k}' has shape "
                               f"{tuple(state[k].shape)}, the model expects {tuple(v.shape)}. "
                               f"Pass a checkpoint of {card.name}")
    load = {k: state[k] for k in backbone}
    keep_head = same_classes and all(k in state and state[k].shape == expected[k].shape
                                     for k in expected if k.startswith(head))
    if keep_head:
        load.update({k: state[k] for k in expected if k.startswith(head)})
    module.load_state_dict(load, strict=keep_head)
    what = "backbone and head (same classes)" if keep_head else f"backbone; new {len(classes)}-class head"
    progress(f"train: starting from {Path(weights).name}: {what}")
    return module, {"from": str(Path(weights).resolve()), "weights_sha256": sha256(Path(weights)),
                    "kept_head": keep_head, "trained_for": (saved_card or {}).get("name")}


def _keep_logits_alive(module) -> None:
    """SqueezeNet's head is Conv -> ReLU -> average pool: a class whose logit starts (or is
    pushed) below zero for every image gets no gradient and is never predicted again. Measured
    on Fashion-MNIST, squeezenet1_1 from scratch: 2 of 10 classes dead after 3 epochs (69.5%
    validation top-1). A new head followed by a ReLU starts with bias +1, so every class is alive."""
    from torch import nn

    head = head_prefix(module).rstrip(".")
    parent_name, _, child = head.rpartition(".")
    parent = module.get_submodule(parent_name) if parent_name else module
    if not isinstance(parent, nn.Sequential) or not child.isdigit():
        return
    layers = list(parent)
    after = layers[int(child) + 1:int(child) + 2]
    if after and isinstance(after[0], (nn.ReLU, nn.ReLU6)) and layers[int(child)].bias is not None:
        nn.init.constant_(layers[int(child)].bias, 1.0)


def freeze_backbone(module) -> list:
    """Only the head trains; the backbone's BatchNorm statistics stay as loaded. Returns its params."""
    head = head_prefix(module)
    params = []
    for name, p in module.named_parameters():
        p.requires_grad_(name.startswith(head))
        if p.requires_grad:
            params.append(p)
    return params


def set_train_mode(module, frozen: bool) -> None:
    """A frozen backbone runs as at inference (BatchNorm statistics, no Dropout); the head is
    a Linear/Conv2d, the same in either mode."""
    module.train(not frozen)
