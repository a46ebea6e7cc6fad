"""A user's own torch model: a torch.export ``.pt2`` file, ``module:factory``, or TorchScript.

    load_user_model("model.pt2", card)           torch.export (torch.export.save), loaded as data
    load_user_model("mypkg.models:build", card)  import mypkg.models, call build() -> nn.Module
    load_user_model("model.pt", card, trust_code=True)  TorchScript (torch.jit.save)

The card says how to feed the model (the zoo has one per model; for a user's model build one
with ``card_from_options``). Model files never run code unless the user says they trust them
(``trust_code``, the CLI's --trust-model-code): a ``.pt2`` is checked and loaded as data
(zoo/safe_pt2.py); a TorchScript file is a program (``torch.jit.load`` runs its
``__setstate__``, which can write files: tests/test_untrusted_models.py shows it), and so is a
pickled ``torch.save(model)``: both are refused without the flag. ``module:factory``
imports and runs the user's code, which is what the user asked for on the command line.
"""
from __future__ import annotations

import importlib
import re
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Optional, Sequence

from .._files import sha256
from ..errors import TRUST_HINT, ConfigError, UntrustedCodeError, WeightsError
from .card import IMAGENET_MEAN, IMAGENET_STD, ModelCard, Preprocess
from .loaded import LoadedModel

_FACTORY = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_SAVE_HOW = ("the whole model with torch.export.save(torch.export.export(model, (x,)), 'model.pt2'), "
             "or pass module:factory")


def card_from_options(
    name: str,
    input_size: Optional[int] = None,
    mean: Optional[Sequence[float]] = None,
    std: Optional[Sequence[float]] = None,
    resize: Optional[int] = None,
    crop: Optional[int] = None,
    color: str = "RGB",
    num_classes: Optional[int] = None,
    classes: str = "",
) -> ModelCard:
    """A ModelCard for a user model (family "user").

    The model sees ``crop`` x ``crop`` pixels: ``input_size`` and ``crop`` name the same
    thing (give either; both and different is an error; neither means 224), ``resize``
    defaults to ``round(crop / 0.875)`` as ImageNet presets,
    mean/std (0-255 scale) to ImageNet's. ``num_classes=None`` means unknown: the loader
    finds it with one forward pass.
    """
    if crop is not None and input_size is not None and int(crop) != int(input_size):
        raise ConfigError(
            f"crop {crop} differs from input size {input_size}; the model sees the crop, "
            "so give one of them (e.g. --input-size 224 --resize 256)"
        )
    crop = int(crop if crop is not None else input_size if input_size is not None else 224)
    pre = Preprocess(
        crop=crop,
        resize=int(resize) if resize is not None else round(crop / 0.875),
        mean=_triple(mean, IMAGENET_MEAN, "mean"),
        std=_triple(std, IMAGENET_STD, "std"),
        color=color.upper(),
    )
    if num_classes is not None and num_classes < 1:
        raise ConfigError(f"num_classes must be >= 1, got {num_classes}")
    return ModelCard(
        name=name,
        family="user",
        num_classes=int(num_classes) if num_classes is not None else 0,
        preprocess=pre,
        classes=classes,
        license="user-supplied",
        source="user model",
        torchvision_compatible=False,
    )


def load_user_model(spec: str, card: ModelCard, *, trust_code: bool = False) -> LoadedModel:
    """Load a torch.export / TorchScript file or call ``module:factory``; eval mode, on CPU.
    ``trust_code``: the user trusts the file, so formats that hold code may run it."""
    spec = str(spec).strip()
    path = Path(spec).expanduser()
    if path.exists() or not _FACTORY.match(spec):
        module, kind = _load_file(path, trust_code)
        weights_path, weights_hash = str(path), sha256(path)
    else:
        module, kind = _call_factory(spec)
        weights_path, weights_hash = None, None
        if kind == "paddle_factory":
            from .paddle import from_paddle

            return from_paddle(module, card if card.num_classes > 0 else replace(card, num_classes=1000), spec)
    if kind != "exported_program":  # an exported graph is frozen in the mode it was exported in
        module.eval()
    if card.num_classes <= 0:
        card = _with_inferred_classes(card, module, spec)
    return LoadedModel(card=card, module=module, weights_path=weights_path,
                       weights_sha256=weights_hash, notes={"user_model": spec, "user_model_kind": kind})


def _load_file(path: Path, trust_code: bool):
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise WeightsError(
            f"Model file '{path}' {what}. Pass a TorchScript .pt file, a torch.export .pt2 file, "
            "or module:factory (e.g. mypkg.models:build)"
        )
    kind = _archive_kind(path)
    if kind in ("not_zip", "pickle"):
        if _is_state_dict(path):
            raise WeightsError(
                f"Model file '{path}' holds only weights (a state_dict), not a model. "
                f"Use a zoo name with --weights {path}, or save {_SAVE_HOW}"
            )
        if kind == "pickle":
            return _load_pickled_module(path, trust_code), "pickle"
        raise WeightsError(f"Model file '{path}' is not a TorchScript or torch.export model (not a zip archive: "
                           f"corrupt, truncated or another format). Save {_SAVE_HOW}")
    if kind == "torchscript" and not trust_code:
        raise UntrustedCodeError(
            f"Model file '{path}' is TorchScript, a program: loading it runs code stored inside it "
            "(which can read and write files), and edgekit does not run code from model files. Save the model "
            f"with torch.export.save(torch.export.export(model, (x,)), 'model.pt2') instead, or {TRUST_HINT}")
    try:
        if kind == "exported_program":
            module = _load_exported(path, trust_code)
        else:
            import torch

            with warnings.catch_warnings():  # TorchScript is deprecated; loading it is the user's choice
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(str(path), map_location="cpu")
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(
            f"Model file '{path}' looks like a {kind.replace('_', ' ')} archive but does not load "
            f"({_first_line(exc, 120)}). Re-save it with this torch version: save {_SAVE_HOW}"
        ) from None
    return module, kind


def _load_pickled_module(path: Path, trust_code: bool):
    """A whole module pickled by torch.save(model): unpickling runs code, so only when trusted."""
    if not trust_code:
        raise UntrustedCodeError(
            f"Model file '{path}' is a pickled torch.save(model): unpickling it runs code stored in the file, and "
            f"edgekit does not run code from model files. Save {_SAVE_HOW}; or {TRUST_HINT}")
    import torch

    try:
        module = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise WeightsError(f"Model file '{path}' does not unpickle ({_first_line(exc, 120)}). Save {_SAVE_HOW}") from None
    if not isinstance(module, torch.nn.Module):
        raise WeightsError(f"Model file '{path}' holds a {type(module).__name__}, not a torch.nn.Module. Save {_SAVE_HOW}")
    return module


def _load_exported(path: Path, trust_code: bool):
    import torch

    if trust_code:
        return torch.export.load(str(path)).module()
    from .safe_pt2 import load_exported_program

    return load_exported_program(path).module(check_guards=False)  # guards are code: never generated


def _archive_kind(path: Path) -> str:
    """Tell the two model archives apart by their members, without running either loader
    on the wrong file (torch.export.load logs a traceback on a non-.pt2 file)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return "not_zip"
    if any(n.endswith("/archive_format") for n in names):
        return "exported_program"
    if any("/code/" in n for n in names) or any(n.endswith("/constants.pkl") for n in names):
        return "torchscript"
    return "pickle"  # torch.save of a state_dict or of a whole (pickled) module


def _is_state_dict(path: Path) -> bool:
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return False
    return isinstance(obj, dict)


def _call_factory(spec: str):
    from torch import nn

    mod_name, attr_path = spec.split(":", 1)
    try:
        obj = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        if exc.name == mod_name or mod_name.startswith(f"{exc.name}."):  # the module itself, not one it imports
            raise ConfigError(
                f"Cannot import module '{mod_name}' for '{spec}': no such module. "
                "Check the spelling and that its directory is on PYTHONPATH (or the package is installed)"
            ) from None
        raise ConfigError(f"Importing '{mod_name}' failed: {_first_line(exc)}. Install what it needs") from None
    except Exception as exc:
        raise ConfigError(f"Importing '{mod_name}' failed ({_first_line(exc)}). Fix the module and retry") from None
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            public = sorted(n for n in dir(obj) if not n.startswith("_") and callable(getattr(obj, n, None)))
            raise ConfigError(
                f"'{mod_name}' has no factory '{attr_path}'. Callables there: "
                f"{', '.join(public[:12]) or '(none)'}. Pass module:function with a function returning an nn.Module"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"'{spec}' is not callable (it is a {type(obj).__name__}). "
                          "Pass module:function with a function returning an nn.Module")
    try:
        module = obj()
    except Exception as exc:
        raise ConfigError(
            f"Factory '{spec}' raised {_first_line(exc)}. It must build the model when called "
            "with no arguments; wrap it in a function that passes its arguments"
        ) from None
    from .paddle import is_paddle_layer

    if is_paddle_layer(module):  # a Paddle model: brought in through its torch twin (zoo/paddle)
        return module, "paddle_factory"
    if not isinstance(module, nn.Module):
        raise ConfigError(
            f"Factory '{spec}' returned a {type(module).__name__}, not a torch.nn.Module or a paddle.nn.Layer. "
            "Return the model object itself (load its weights inside the factory)"
        )
    return module, "factory"


def _with_inferred_classes(card: ModelCard, module, spec: str) -> ModelCard:
    """Unknown class count: run one zero input and read the width of a (N, K) output."""
    import torch

    try:
        with torch.no_grad():
            out = module(torch.zeros(card.input_shape))
    except Exception as exc:
        raise ConfigError(
            f"Model '{spec}' failed on a {'x'.join(map(str, card.input_shape))} input "
            f"({_first_line(exc)}). Pass the input size the model expects with --input-size"
        ) from None
    if isinstance(out, torch.Tensor) and out.ndim == 2:
        return replace(card, num_classes=int(out.shape[1]))
    return card


def _triple(values, default, what: str) -> tuple[float, float, float]:
    if values is None:
        return tuple(default)
    values = [float(v) for v in values]
    if len(values) == 1:
        values *= 3
    if len(values) != 3:
        raise ConfigError(f"{what} needs 1 or 3 values on the 0-255 scale, e.g. 127.5 or 123.7,116.3,103.5")
    return tuple(values)


def _first_line(exc: BaseException, limit: int = 160) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if len(first) > limit:
        first = first[: limit - 3] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
