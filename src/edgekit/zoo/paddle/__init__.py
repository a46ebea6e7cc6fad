"""PaddlePaddle models in, through their torch twins: a Paddle ``nn.Layer`` (a zoo twin built with
``--framework paddle`` or a user's ``module:factory``) has its weights copied in layer order into
the torch build of the same architecture, proved numerically (``transfer``), and everything
downstream (fold BN, every format, int8, validate, bench) runs on that torch module; the sidecar
names Paddle as the source. No paddle2onnx: it pins onnx<=1.17, edgekit onnx 1.23 (README).
Importing this package does not import Paddle; building or converting a model does.
"""
from __future__ import annotations

from dataclasses import replace

from ...errors import ConfigError, UnsupportedError
from ..loaded import LoadedModel, get_model

TWINS = ("mobilenet_v1", "mobilenet_v1_0_5", "mobilenet_v1_0_25", "mobilenet_v2")  # zoo names with a Paddle twin


def has_twin(name: str) -> bool:
    return name in TWINS


def is_paddle_layer(obj) -> bool:
    import sys

    paddle = sys.modules.get("paddle")
    return paddle is not None and isinstance(obj, paddle.nn.Layer)


def paddle_twin(loaded: LoadedModel):
    """(Paddle twin of a zoo torch model with its weights, TwinReport): torch -> Paddle, checked."""
    from ..._optional import require
    from .mobilenet import build
    from .transfer import check_twins, copy_torch_to_paddle

    require("paddle", extra="paddle")
    if loaded.card.name not in TWINS:
        raise UnsupportedError(f"'{loaded.card.name}' has no Paddle twin (zoo models that have one: {', '.join(TWINS)})")
    layer = build(loaded.module.eval(), loaded.card.name)
    report = copy_torch_to_paddle(loaded.module, layer)
    return layer, check_twins(layer, loaded.module, loaded.card.input_shape, report)


def to_paddle_zoo(loaded: LoadedModel) -> LoadedModel:
    """``--framework paddle`` on a zoo name: its Paddle twin (weights from the torch model), brought
    back into a fresh torch build (Paddle -> torch, checked) as every Paddle model is."""
    layer, there = paddle_twin(loaded)
    fresh = get_model(loaded.card.name, num_classes=loaded.card.num_classes)
    back = from_paddle(layer, loaded.card, f"zoo:{loaded.card.name}", candidates=(loaded.card.name,),
                       template=fresh.module)
    notes = {**back.notes, "paddle_twin_from_torch": there.to_dict()}
    return replace(back, card=loaded.card, weights_path=loaded.weights_path, weights_sha256=loaded.weights_sha256,
                   notes={k: v for k, v in notes.items() if k not in ("user_model", "user_model_kind")}
                   | {"paddle_zoo": loaded.card.name})


def from_paddle(layer, card, spec: str, candidates=TWINS, template=None) -> LoadedModel:
    """A LoadedModel (torch) whose module is the torch twin of the Paddle ``layer``, weights copied
    in layer order and checked; ConfigError/UnsupportedError when no zoo architecture matches."""
    from .transfer import check_twins, copy_paddle_to_torch, paddle_layers, refuse_unregistered, signature_matches

    if not is_paddle_layer(layer):
        raise ConfigError(f"'{spec}' gave a {type(layer).__name__}, not a paddle.nn.Layer. Return the Paddle "
                          "model object itself (load its weights inside the factory)")
    refuse_unregistered(layer, spec)
    layer.eval()
    linears = [m for m in paddle_layers(layer) if type(m).__name__ == "Linear"]
    classes = int(linears[-1].weight.shape[1]) if linears else card.num_classes
    for name in candidates:
        module = template if template is not None else get_model(name, num_classes=classes).module
        if signature_matches(module, layer):
            report = copy_paddle_to_torch(layer, module)
            check_twins(layer, module, card.input_shape, report)
            return LoadedModel(card=replace(card, num_classes=classes), module=module.eval(),
                               notes={"source_framework": "paddle", "paddle_model": spec, "torch_twin": name,
                                      "paddle_twin": report.to_dict(), "user_model": spec,
                                      "user_model_kind": "paddle_factory"})
    raise UnsupportedError(
        f"Paddle model '{spec}' ({len(paddle_layers(layer))} weight layers) matches none of the architectures edgekit "
        f"has torch twins of ({', '.join(candidates)}); Paddle models come in through those twins")
