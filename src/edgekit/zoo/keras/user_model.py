"""A user's own Keras model: a ``.keras`` file, a legacy ``.h5`` file, or a SavedModel directory.

    load_keras_user_model("model.keras", card)    Keras 3 archive (keras.saving.save_model)
    load_keras_user_model("model.h5", card)       legacy HDF5 model
    load_keras_user_model("saved_model_dir", card)  TF SavedModel (serving signature)

Model files never run code unless the user trusts them (``trust_code``, the CLI's
--trust-model-code): a .keras/.h5 model's config is read first and a Lambda layer (Python code)
or a reference to a Python module outside Keras is refused before Keras sees the file, which
then loads with ``safe_mode=True``; a SavedModel is a TensorFlow program (its graph can read and
write files when it runs), so it needs the flag. The model must take one NHWC image batch; its size fixes the card's input size (a model with
a dynamic size takes --input-size). Engines keep feeding NCHW: the Keras reference
engine transposes, like the TFLite engine.
"""
from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

from ..._files import sha256
from ...errors import TRUST_HINT, ConfigError, UntrustedCodeError, WeightsError
from ..loaded import LoadedModel


KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def is_keras_model_path(spec: str) -> bool:
    path = Path(str(spec)).expanduser()
    return path.suffix.lower() in KERAS_SUFFIXES or (path.is_dir() and (path / "saved_model.pb").is_file())


def load_keras_user_model(spec: str, card, *, trust_code: bool = False) -> LoadedModel:
    """Load the model; fill in the card's input size / class count from the model itself."""
    from ..._optional import import_tf

    import_tf()
    import keras
    path = Path(str(spec)).expanduser()
    if not path.exists():
        raise WeightsError(f"Keras model '{path}' does not exist. Pass a .keras / .h5 file or a SavedModel directory")
    if path.is_dir():
        if not trust_code:
            raise UntrustedCodeError(
                f"'{path}' is a TensorFlow SavedModel, a program: its graph can read and write files when it runs, "
                "and edgekit does not run code from model files. Save the Keras model as a .keras file "
                f"(model.save('model.keras')) instead, or {TRUST_HINT}")
        model, kind = _saved_model(path, card, keras), "saved_model"
    else:
        _check_archive(path)
        if not trust_code:
            check_keras_config(path)
        try:
            model = keras.models.load_model(str(path), compile=False, safe_mode=not trust_code)
        except Exception as exc:  # keras raises ValueError/OSError/TypeError/... for bad files
            raise WeightsError(f"Keras model '{path}' is corrupt or not a Keras model "
                               f"({_first_line(exc)}). Re-save it with model.save('model.keras')") from None
        kind = "keras" if path.suffix.lower() == ".keras" else "h5"
    shape = tuple(model.inputs[0].shape) if getattr(model, "inputs", None) else ()
    if len(model.inputs) != 1 or len(shape) != 4:
        raise ConfigError(f"Keras model '{path}' must take one image batch (N, H, W, C); it takes "
                          f"{[tuple(i.shape) for i in model.inputs]}")
    pre = card.preprocess
    if shape[1] and shape[2]:
        if shape[1] != shape[2]:
            raise ConfigError(f"Keras model '{path}' takes {shape[1]}x{shape[2]} images; edgekit exports square inputs")
        if shape[1] != pre.crop:
            pre = replace(pre, crop=int(shape[1]), resize=max(pre.resize * int(shape[1]) // pre.crop, int(shape[1])))
    out = model.outputs[0].shape
    classes = int(out[-1]) if out[-1] else card.num_classes
    card = replace(card, preprocess=pre, num_classes=classes)
    digest = sha256(path) if path.is_file() else None
    return LoadedModel(card=card, module=model, framework="keras", weights_path=str(path),
                       weights_sha256=digest, notes={"user_model": str(spec), "user_model_kind": kind})


def _check_archive(path: Path) -> None:
    """A .keras file is a zip archive, a .h5 file an HDF5 file: say so before Keras' own errors."""
    head = path.read_bytes()[:8]
    if path.suffix.lower() == ".keras" and not zipfile.is_zipfile(path):
        raise WeightsError(f"Keras model '{path}' is corrupt or truncated (a .keras file is a zip archive). "
                           "Re-save it with model.save('model.keras')")
    if path.suffix.lower() in (".h5", ".hdf5") and head != b"\x89HDF\r\n\x1a\n":
        raise WeightsError(f"Keras model '{path}' is corrupt or not an HDF5 file. Re-save it with model.save('model.h5')")


def check_keras_config(path: Path) -> None:
    """Refuse, before Keras reads the file, a model whose config holds code: a Lambda layer
    (its function is Python bytecode or a Python name) or an object from a module outside Keras
    (Keras would import that module)."""
    config = _read_config(path)
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if node.get("class_name") == "Lambda":
                _refuse_code(path, f"its layer '{node.get('config', {}).get('name', '?')}' is a Lambda layer (Python code)")
            module = node.get("module")
            if isinstance(module, str) and module and module.split(".")[0] not in ("keras", "builtins"):
                _refuse_code(path, f"it refers to the Python module '{module[:60]}', which loading would import")
            stack.extend(node.values())


def _read_config(path: Path):
    import json

    try:
        if path.suffix.lower() == ".keras":
            with zipfile.ZipFile(path) as zf:
                return json.loads(zf.read("config.json"))
        import h5py

        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw) if raw is not None else {}
    except (KeyError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise WeightsError(f"Keras model '{path}' is corrupt or not a Keras model ({_first_line(exc)}). "
                           "Re-save it with model.save('model.keras')") from None


def _refuse_code(path: Path, why: str):
    raise UntrustedCodeError(f"Keras model '{path}' is refused: {why}, and edgekit does not run code from model files. "
                       f"Replace the layer with a built-in or registered Keras layer and re-save, or {TRUST_HINT}")


def _saved_model(path: Path, card, keras):
    """Wrap a SavedModel's serving signature as a Keras model with a fixed NHWC input."""
    try:
        layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
    except Exception as exc:
        raise WeightsError(f"SavedModel '{path}' does not load ({_first_line(exc)})") from None
    size = card.preprocess.crop
    inp = keras.Input((size, size, 3), name="input")
    out = layer(inp)
    if isinstance(out, dict):
        out = next(iter(out.values()))
    return keras.Model(inp, out, name=path.name)


def _first_line(exc: Exception, limit: int = 160) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]
