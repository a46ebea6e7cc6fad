"""Lazy imports of optional backends with an install hint instead of an ImportError."""
from __future__ import annotations

import importlib
import logging
import os
import sys
from types import ModuleType

from ._quiet import captured_stderr
from .errors import MissingDependencyError


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise MissingDependencyError naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module} is not installed (needed here: {exc.name or module}). "
            f"Install it with: pip install 'edgekit[{extra}]'"
        ) from None


def require_torch() -> ModuleType:
    """torch is not an extra: pip must not resolve it (any version but 2.13.0 pulls CUDA)."""
    try:
        return importlib.import_module("torch")
    except ImportError:
        raise MissingDependencyError(
            "PyTorch is not installed. Install the CPU build first: pip install torch==2.13.0"
        ) from None


def import_tf() -> ModuleType:
    """tensorflow, imported without its start-up chatter on the user's terminal.

    TF reads TF_CPP_MIN_LOG_LEVEL once, at import; absl's "log messages before
    absl::InitializeLog()" banner ignores it, so the import runs with fd 2 captured.
    """
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with captured_stderr():
            tf = require("tensorflow", extra="tflite")
    else:
        tf = sys.modules["tensorflow"]
    logging.getLogger("absl").setLevel(logging.ERROR)  # "consider providing trackable_obj" etc.
    tf.get_logger().setLevel(logging.ERROR)
    return tf
