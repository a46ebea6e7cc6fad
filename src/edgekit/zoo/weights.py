"""Load weights from a local file into a zoo model, with errors a user can act on.

Files are read with ``torch.load(weights_only=True)``: no pickled code is ever executed.
Accepts a bare state_dict or a checkpoint dict holding one under a common key. A checkpoint
written by ``edgekit train`` also holds its model card (plain data under ``model_card``).
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

from ..errors import WeightsError

_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")


def read_state_dict(path: Path) -> dict:
    return read_checkpoint(path)[0]


def read_checkpoint(path: Path) -> tuple[dict, dict | None]:
    """(state_dict, model card dict or None) of a weights file, read without running code."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Weights file '{path}' does not exist. Pass a local .pth/.pt file with --weights PATH")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(
            f"Weights file '{path}' is corrupt or not a PyTorch weights file ({first[:160]}). "
            "Re-download or re-save it with torch.save(model.state_dict(), PATH)"
        ) from None
    except pickle.UnpicklingError as exc:  # weights_only refused a pickled object: never run it
        raise WeightsError(
            f"Weights file '{path}' cannot be read safely ({type(exc).__name__}: {str(exc)[:120]}). "
            "edgekit only loads tensors (weights_only=True); save a plain state_dict"
        ) from None
    except Exception as exc:  # anything else torch's reader trips over in a damaged file
        raise WeightsError(
            f"Weights file '{path}' is corrupt or not a PyTorch weights file ({type(exc).__name__}). "
            "Re-download or re-save it with torch.save(model.state_dict(), PATH)"
        ) from None
    card = obj.get("model_card") if isinstance(obj, dict) else None
    card = card if isinstance(card, dict) else None
    if isinstance(obj, dict):
        for key in _CHECKPOINT_KEYS:
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise WeightsError(f"Weights file '{path}' holds no state_dict (found {type(obj).__name__})")
    prefix = "module."  # saved from DataParallel / DDP
    if obj and all(k.startswith(prefix) for k in obj):
        obj = {k[len(prefix):]: v for k, v in obj.items()}
    return obj, card


def load_into(module, state: dict, path: Path, model_name: str) -> None:
    """Strict load; on mismatch name the first differing key and what the model expects."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        first = f"missing key '{missing[0]}'" if missing else f"unexpected key '{unexpected[0]}'"
        raise WeightsError(
            f"Weights '{path}' do not fit {model_name}: {first} "
            f"({len(missing)} missing, {len(unexpected)} unexpected). "
            "Are these weights for another architecture? See `edgekit models`"
        )
    for k, v in expected.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise WeightsError(
                f"Weights '{path}' do not fit {model_name}: key '{k}' has shape "
                f"{tuple(state[k].shape)}, the model expects {tuple(v.shape)}. "
                "Are these weights for another architecture or class count?"
            )
    module.load_state_dict(state, strict=True)
