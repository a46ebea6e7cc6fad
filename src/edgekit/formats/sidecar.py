"""Where an exported file's sidecar (``<file>.edgekit.json``) lives: a name rule that the stages
before export (inspect) read too, so it sits here rather than in export/artifact.py."""
from __future__ import annotations

from pathlib import Path

SIDECAR_SUFFIX = ".edgekit.json"


def sidecar_path(path: Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)
