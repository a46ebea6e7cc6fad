"""The .tflite flatbuffer: its generated schema, parsing with one clear error, writing back,
operator names, and the interpreter class of whichever TFLite runtime is installed."""
from __future__ import annotations

import importlib
from typing import Optional

from ..errors import ConfigError, MissingDependencyError

FILE_IDENTIFIER = b"TFL3"
_SCHEMA_MODULES = ("ai_edge_litert.schema_py_generated", "tflite_runtime.schema_py_generated",
                   "tensorflow.lite.python.schema_py_generated")
# best first, as runner.py's LiteRT backend: ai-edge-litert (numpy 2), tflite-runtime (old Pi images), TF
_INTERPRETERS = (("ai_edge_litert.interpreter", "Interpreter"), ("tflite_runtime.interpreter", "Interpreter"),
                 ("tensorflow.lite", "Interpreter"))
_INSTALL = "Install it with: pip install 'edgekit[tflite]'"


def schema():
    """The generated TFLite flatbuffer schema module (ai-edge-litert's, else TensorFlow's)."""
    for name in _SCHEMA_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise MissingDependencyError(f"Reading .tflite files needs ai-edge-litert or tensorflow. {_INSTALL}")


def interpreter_class():
    """The Interpreter class of the first TFLite runtime that imports."""
    for module, attr in _INTERPRETERS:
        try:
            return getattr(importlib.import_module(module), attr)
        except ImportError:
            continue
    raise MissingDependencyError(f"No TFLite runtime found (ai-edge-litert, tflite-runtime or tensorflow). {_INSTALL}")


def enum_names(cls) -> dict[int, str]:
    """{value: name} of a generated schema enum (BuiltinOperator, TensorType)."""
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def load_model(data: bytes, label: str = "file"):
    """Parse the root Model table, with one clear error for anything that is not a TFLite model."""
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        what = "is empty" if not data else f"has file identifier {data[4:8]!r}" if len(data) >= 8 else "is too short"
        raise ConfigError(f"'{label}' is not a TFLite flatbuffer (it {what}; a .tflite file has 'TFL3')")
    fb = schema()
    try:
        model = fb.Model.GetRootAsModel(data, 0)
        if model.SubgraphsLength() < 1:
            raise ValueError("no subgraphs")
        model.OperatorCodesLength(), model.BuffersLength()
    except Exception as exc:  # a truncated/corrupt flatbuffer raises struct/index errors
        raise ConfigError(f"'{label}' is a corrupt TFLite flatbuffer ({type(exc).__name__}: {exc})") from None
    return model


def unpack(data: bytes):
    """The mutable object tree (schema ``ModelT``) of a model, for edits written back with ``pack``."""
    fb = schema()
    return fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(data, 0))


def pack(model_t, size_hint: int = 0) -> bytes:
    import flatbuffers

    b = flatbuffers.Builder(size_hint + 1024)
    b.Finish(model_t.Pack(b), file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


def operator_names(model, names: Optional[dict] = None) -> list[str]:
    """Builtin name of each operator code of a parsed model ("CUSTOM:<code>" for custom ops)."""
    names = names or enum_names(schema().BuiltinOperator)
    out = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        name = names.get(code, f"BUILTIN_{code}")
        if name == "CUSTOM":
            custom = oc.CustomCode()
            name = f"CUSTOM:{custom.decode('utf-8', 'replace') if custom else '?'}"
        out.append(name)
    return out
