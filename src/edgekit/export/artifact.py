"""Artifact: an exported file plus its sidecar (``<file>.edgekit.json``) saying what made it.

The sidecar carries the model card (so validate/bench need no flags repeated), the
source model and weights hash, tool versions, calibration summary and accuracy report.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .._files import write_json_atomic
from ..errors import ConfigError
from ..formats import FORMATS, format_of

if TYPE_CHECKING:
    from ..zoo.loaded import LoadedModel

SIDECAR_SUFFIX = ".edgekit.json"


def sidecar_path(path: Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


@dataclass
class Artifact:
    path: Path
    format: str
    precision: str
    card: dict  # ModelCard.to_dict()
    source: dict = field(default_factory=dict)  # LoadedModel.provenance()
    meta: dict = field(default_factory=dict)  # tool versions, calibration, fold report, accuracy

    def to_dict(self) -> dict:
        return {"file": Path(self.path).name, "format": self.format, "precision": self.precision,
                "card": self.card, "source": self.source, "meta": self.meta}

    @classmethod
    def written(cls, path: Path, fmt: str, precision: str, loaded: "LoadedModel", meta: dict) -> "Artifact":
        """The artifact of a file an exporter just wrote from ``loaded``, its sidecar saved."""
        art = cls(Path(path), fmt, str(precision), loaded.card.to_dict(), loaded.provenance(), meta)
        art.save_sidecar()
        return art

    def files(self) -> list[Path]:
        """The file and its companions, companions first (an OpenVINO .xml needs its .bin),
        then the sidecar: moved in this order, a present file always has what it needs."""
        path = Path(self.path)
        companions = [path.with_suffix(c) for c in FORMATS.get(self.format).companions] if self.format in FORMATS else []
        return companions + [path, sidecar_path(path)]

    def save_sidecar(self) -> Path:
        sc = sidecar_path(self.path)
        write_json_atomic(sc, self.to_dict())
        return sc

    @classmethod
    def load(cls, path: Path) -> "Artifact":
        """Read an artifact and its sidecar; a file without one gets format from its suffix."""
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"File '{path}' does not exist")
        sc = sidecar_path(path)
        if sc.is_file():
            try:
                d = json.loads(sc.read_text())
            except json.JSONDecodeError as exc:
                raise ConfigError(f"Sidecar '{sc}' is not valid JSON ({exc}); delete it or re-export") from None
            return cls(path, d.get("format", ""), d.get("precision", ""), d.get("card") or {},
                       d.get("source") or {}, d.get("meta") or {})
        return cls(path, format_of(path), "unknown", {})

    @property
    def model_card(self):
        from ..zoo.card import ModelCard

        return ModelCard.from_dict(self.card) if self.card else None


def artifact_path(out_dir: Path, model: str, precision: str, fmt: str) -> Path:
    """Where an export writes: ``<out>/<model>_<precision><suffix of the format>``."""
    spec = FORMATS.get(fmt)
    return Path(out_dir) / f"{model}_{precision}{spec.infix}{spec.suffix}"
