"""Load a torch.export ``.pt2`` archive as data: no pickle, no eval, no exec, no arbitrary call.

``torch.export.load`` is documented as unsafe for untrusted files, and torch 2.13 has several
ways for an archive to run code (each was checked by reading torch/export/pt2_archive/_package.py,
torch/_export/serde/serialize.py and torch/export/_unlift.py; tests/test_untrusted_models.py
builds one payload per way):

1. pickles: weights/constants stored with ``use_pickle`` and the legacy weights file are read
   with ``torch.load(weights_only=False)``; the sample inputs fall back to it when the safe
   load fails; "opaque" constants go through plain ``pickle.loads``; custom (torchbind)
   objects through torch's own unpickler;
2. node targets are resolved by ``getattr`` from the ``torch``, ``operator`` and ``math``
   modules, so ``torch.os.system`` is a valid target, called when the model runs;
3. symbolic-shape expressions are parsed with ``sympy.sympify``, which evaluates its input;
4. ``ExportedProgram.module()`` ``exec``s the archive's ``guards_code`` strings;
5. FX writes node metadata into the comments of the code it generates; a carriage return in
   a stack trace ends the comment and starts a line of code.

So before torch sees the file, every part of its JSON that torch interprets is checked against
an allow-list (targets: aten/prims operators and ``operator.getitem``; expressions: symbols,
integers, arithmetic and sympy's shape functions; no carriage returns); pickled payloads are
refused; then torch loads it with ``weights_only`` forced on, ``pickle.loads`` disabled, guards
dropped, and the loaded graph is checked once more. An image classifier exported with
``torch.export.export(model, (x,))`` passes all of this.
"""
from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Iterator

from ..errors import TRUST_HINT, UntrustedCodeError, WeightsError


# aten operators that touch the file system (found by listing every schema with a file-name
# argument: torch._C._jit_get_all_schemas()).
_DENIED_OPS = {"save", "from_file"}
_TARGET = re.compile(r"torch\.ops\.(aten|prims)\.([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)")
_ALLOWED_PLAIN_TARGETS = {"_operator.getitem"}
_EXPR_CHARS = re.compile(r"[A-Za-z0-9_ +\-*/%(),.<>=!]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SYMBOL = re.compile(r"[a-z]{1,3}\d+")
# sympy names torch's shape expressions use (serialize.py's sympy_functions, plus relations).
_SYMPY_NAMES = {
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "Mod", "CleanDiv", "CeilToInt",
    "FloorToInt", "CeilDiv", "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv",
    "IntTrueDiv", "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt",
    "RoundToInt", "RoundDecimal", "ToFloat", "Identity", "Max", "Min", "Abs", "Eq", "Ne", "Ge",
    "Gt", "Le", "Lt", "And", "Or", "Not", "True", "False", "oo", "zoo", "nan", "Integer",
}


def load_exported_program(path: Path):
    """The ExportedProgram in ``path``, or WeightsError naming what would have run."""
    import torch

    check_archive(path)
    with _unpickling_disabled():
        try:
            ep = torch.export.load(str(path))
        except WeightsError:
            raise
        except pickle.UnpicklingError:  # weights_only refused a pickled object: never run it
            _refuse(path, "it holds a pickled Python object, not plain tensors")
        except Exception as exc:
            raise WeightsError(
                f"Model file '{path}' is a torch.export archive but does not load safely "
                f"({_first_line(exc)}); re-save it with torch.export.save, or {TRUST_HINT}"
            ) from None
    check_graph(ep.graph_module, path)
    ep._guards_code = []  # never exec'd (4); the input shape is fixed by the model card anyway
    return ep


def check_archive(path: Path) -> None:
    """Refuse an archive whose JSON or payloads would make torch run code (1-3, 5)."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        for name in names:
            parts = name.split("/")
            if len(parts) >= 3 and parts[-2] == "weights" and name.endswith(".pt"):
                _refuse(path, f"it stores its weights as a pickle ({name})")
            if name.endswith(".json") and ("/models/" in name or "/data/" in name):
                try:
                    doc = json.loads(zf.read(name))
                except (ValueError, UnicodeDecodeError):
                    _refuse(path, f"its member {name} is not valid JSON")
                if "/data/" in name:
                    _check_payload_config(path, name, doc)
                else:
                    _check_model_json(path, name, doc)


def check_graph(graph_module, path: Path) -> None:
    """The loaded graph calls only aten/prims operators and ``operator.getitem``."""
    import operator

    import torch

    for gm in graph_module.modules():
        graph = getattr(gm, "graph", None)
        for node in graph.nodes if graph is not None else ():
            if node.op in ("placeholder", "output", "get_attr"):
                continue
            target = node.target
            ok = node.op == "call_function" and (
                target is operator.getitem
                or (isinstance(target, (torch._ops.OpOverload, torch._ops.OpOverloadPacket))
                    and target.namespace in ("aten", "prims")
                    and target.__name__.split(".")[0] not in _DENIED_OPS))
            if not ok:
                _refuse(path, f"its graph calls {node.op} {target!r}, which is not a torch operator edgekit allows")


def _check_payload_config(path: Path, name: str, doc) -> None:
    config = doc.get("config", {}) if isinstance(doc, dict) else {}
    for fqn, meta in config.items() if isinstance(config, dict) else ():
        meta = meta if isinstance(meta, dict) else {}
        if meta.get("use_pickle"):
            _refuse(path, f"it stores '{fqn}' as a pickle ({name})")
        stem = str(meta.get("path_name", ""))
        if not (stem.startswith("weight_") or stem.startswith("tensor_")):
            _refuse(path, f"it holds a Python object '{fqn}' ({stem}), which loads by unpickling")


def _check_model_json(path: Path, name: str, doc) -> None:
    for key, value in _walk(doc):
        if isinstance(value, str) and "\r" in value:
            _refuse(path, f"a string in {name} holds a carriage return")
        if key == "target" and isinstance(value, str):
            _check_target(path, value)
        elif key == "expr_str" and isinstance(value, str):
            _check_expression(path, value)
        elif key == "custom_obj_values" and value:
            _refuse(path, "its graph holds custom (torchbind) objects, which load by unpickling")
    module = doc.get("graph_module", {}) if isinstance(doc, dict) else {}
    for expr in (doc.get("range_constraints") or {}) if isinstance(doc, dict) else ():
        _check_expression(path, expr)
    if not isinstance(module, dict):
        _refuse(path, f"{name} has no graph")


def _check_target(path: Path, target: str) -> None:
    m = _TARGET.fullmatch(target)
    if target in _ALLOWED_PLAIN_TARGETS or (m and m.group(2) not in _DENIED_OPS):
        return
    _refuse(path, f"its graph calls '{target[:80]}', which is not a torch operator edgekit allows")


def _check_expression(path: Path, expr: str) -> None:
    bad = (not _EXPR_CHARS.fullmatch(expr) or "__" in expr or re.search(r"[A-Za-z_]\.", expr)
           or any(not (_SYMBOL.fullmatch(i) or i in _SYMPY_NAMES) for i in _IDENT.findall(expr)))
    if bad:
        _refuse(path, f"its shape expression '{expr[:60]}' is not plain arithmetic (torch would evaluate it)")


def _walk(doc) -> Iterator[tuple[str, object]]:
    stack = [("", doc)]
    while stack:
        key, value = stack.pop()
        yield key, value
        if isinstance(value, dict):
            stack.extend(value.items())
        elif isinstance(value, list):
            stack.extend((key, v) for v in value)


@contextlib.contextmanager
def _unpickling_disabled():
    """Every ``torch.load`` torch makes while loading runs with ``weights_only=True`` (torch's
    own switch, TORCH_FORCE_WEIGHTS_ONLY_LOAD), and plain ``pickle.loads`` in the archive
    reader raises; both are restored afterwards."""
    from torch.export.pt2_archive import _package

    def refuse(*_a, **_k):
        raise UntrustedCodeError("a pickled object in the archive was refused")

    saved_env = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    saved_pickle = getattr(_package, "pickle", None)
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    if saved_pickle is not None:
        _package.pickle = type("NoPickle", (), {"loads": staticmethod(refuse), "load": staticmethod(refuse)})
    try:
        yield
    finally:
        if saved_env is None:
            os.environ.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
        else:
            os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = saved_env
        if saved_pickle is not None:
            _package.pickle = saved_pickle


def _refuse(path: Path, why: str):
    raise UntrustedCodeError(f"Model file '{path}' is refused: {why}. edgekit does not run code from model files; "
                       f"re-save the model with torch.export.save(torch.export.export(model, (x,)), 'model.pt2'), "
                       f"or {TRUST_HINT}")


def _first_line(exc: BaseException, limit: int = 160) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first[:limit]}" if first else type(exc).__name__
