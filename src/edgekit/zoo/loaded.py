"""LoadedModel: a float model ready for folding and export, with its card and provenance."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .._files import sha256
from ..errors import EdgekitError, WeightsError
from .card import ModelCard
from .registry import MODELS
from .weights import load_into, read_checkpoint


@dataclass
class LoadedModel:
    card: ModelCard
    module: Any  # torch.nn.Module in eval mode
    framework: str = "torch"
    weights_path: Optional[str] = None
    weights_sha256: Optional[str] = None
    notes: dict = field(default_factory=dict)

    def provenance(self) -> dict:
        return {
            "model": self.card.name,
            "framework": self.framework,
            "weights": self.weights_path,
            "weights_sha256": self.weights_sha256,
            **self.notes,
        }


def get_model(name: str, weights: Optional[Path] = None, **build_kwargs) -> LoadedModel:
    """Build a zoo model (random init unless ``weights`` is a local state_dict/checkpoint)."""
    card = MODELS.get(name)
    state, trained_card = read_checkpoint(Path(weights)) if weights is not None else (None, None)
    if trained_card is not None:  # written by `edgekit train`: its classes, input size, preprocessing
        card = _card_of_checkpoint(card, trained_card, Path(weights))
        build_kwargs.setdefault("num_classes", card.num_classes)
    num_classes = build_kwargs.get("num_classes")
    if state is not None and num_classes is None:
        num_classes = _infer_num_classes(card, state)
        if num_classes is not None and num_classes != card.num_classes:
            build_kwargs["num_classes"] = num_classes
    module = card.builder(**build_kwargs)
    if state is not None:
        load_into(module, state, Path(weights), name)
    module.eval()
    if build_kwargs.get("num_classes", card.num_classes) != card.num_classes:
        from dataclasses import replace

        card = replace(card, num_classes=build_kwargs["num_classes"], classes="", labels=())
    return LoadedModel(
        card=card,
        module=module,
        weights_path=str(Path(weights).resolve()) if weights is not None else None,
        weights_sha256=sha256(Path(weights)) if weights is not None else None,
    )


def _card_of_checkpoint(card: ModelCard, saved: dict, path: Path) -> ModelCard:
    from dataclasses import replace

    if saved.get("name") != card.name:
        raise WeightsError(f"Weights '{path}' were trained for {saved.get('name')}, not {card.name}. "
                           f"Pass them with `{saved.get('name')}`, or train {card.name} with `edgekit train`")
    try:
        return replace(ModelCard.from_dict(saved), builder=card.builder)
    except (TypeError, ValueError, EdgekitError) as exc:
        raise WeightsError(f"Weights '{path}' carry a model card edgekit cannot read ({exc})") from None


def _infer_num_classes(card: ModelCard, state: dict) -> Optional[int]:
    """A checkpoint fine-tuned to N classes builds an N-class head instead of failing."""
    last = [v for k, v in state.items() if k.endswith("weight") and getattr(v, "ndim", 0) in (2, 4)]
    if not last:
        return None
    n = int(last[-1].shape[0])
    return n if 1 < n <= 100_000 else None
