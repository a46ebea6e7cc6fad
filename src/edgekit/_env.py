"""Environment and version facts, in one place: package versions, edgekit's own, the host."""
from __future__ import annotations

import importlib.metadata as md
import re
import sys
from pathlib import Path
from typing import Optional


def package_version(dist: str) -> Optional[str]:
    """The installed version of a distribution (pip name), None when it is not installed."""
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def imported_version(module: str) -> Optional[str]:
    """``__version__`` of a module already imported (None when it is not), without importing it."""
    return getattr(sys.modules.get(module), "__version__", None)


def edgekit_version() -> Optional[str]:
    """The installed version; run from a source tree (not pip-installed): the pyproject's, marked +src."""
    installed = package_version("edgekit")
    if installed:
        return installed
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    m = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), re.M) if pyproject.is_file() else None
    return f"{m.group(1)}+src" if m else None


def tool_versions(*dists: str) -> dict:
    """{dist: version or None} for edgekit and ``dists``, as recorded in every sidecar."""
    return {d: package_version(d) for d in ("edgekit",) + dists}


def environment(runtimes: Optional[dict] = None, threads: Optional[list] = None) -> dict:
    """Host and versions: CPU model, cores, OS, Python, edgekit, numpy, and the runtimes
    ({name: version}) and thread counts a bench used (runtime_bench.result.bench_environment)."""
    from .runtime_bench.runner import host_info  # standalone by contract: imports nothing of edgekit

    env = {"host": host_info(), "edgekit_version": edgekit_version(), "numpy": package_version("numpy")}
    if runtimes:
        env["runtimes"], env["threads"] = runtimes, threads
    return env
