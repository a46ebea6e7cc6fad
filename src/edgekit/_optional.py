"""Lazy imports of optional backends with an install hint instead of an ImportError."""
from __future__ import annotations

import importlib
from types import ModuleType

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
