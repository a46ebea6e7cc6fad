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
