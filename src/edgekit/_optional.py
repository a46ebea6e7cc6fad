"""Lazy imports of optional backends with an install hint instead of an ImportError."""
from __future__ import annotations

import importlib
import logging
import os
import sys
from types import ModuleType

from ._quiet import captured_stderr
from .errors import EdgekitError, MissingDependencyError


# Imports that crash the process when another library is already loaded (measured: paddle
# 3.x after tensorflow 2.21 dies with SIGSEGV in paddle/base/core.py; paddle first works).
_CRASHES_AFTER = {"paddle": "tensorflow"}


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise MissingDependencyError naming the extra that provides it."""
    other = _CRASHES_AFTER.get(module)
    if other and other in sys.modules and module not in sys.modules:
        raise EdgekitError(f"{module} cannot be loaded into a process that has already loaded {other} (it crashes); "
                           f"load the {module} model first, or in a process of its own")
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
