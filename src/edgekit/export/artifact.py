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
from ..formats.sidecar import SIDECAR_SUFFIX, sidecar_path  # noqa: F401  (re-exported: export's callers use it)

if TYPE_CHECKING:
    from ..zoo.loaded import LoadedModel


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
                d = json.loads(sc.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"Sidecar '{sc}' is not valid JSON ({exc}); delete it or re-export") from None
            art = cls(path, *_checked_sidecar(sc, d))
            if art.card:
                try:
                    art.model_card
                except ConfigError as exc:
                    raise ConfigError(f"Sidecar '{sc}': {exc}; delete it or re-export") from None
            return art
        return cls(path, format_of(path), "unknown", {})

    @property
    def model_card(self):
        from ..zoo.card import ModelCard

        return ModelCard.from_dict(self.card) if self.card else None


_SOURCE_TEXT = ("model", "user_model", "weights", "framework", "user_model_kind")


def _checked_sidecar(sc: Path, d) -> tuple[str, str, dict, dict, dict]:
    """(format, precision, card, source, meta) of a sidecar document, each of the type edgekit
    wrote: a sidecar travels with the file and may have been edited or damaged on the way."""
    def bad(what: str) -> ConfigError:
        return ConfigError(f"Sidecar '{sc}' is not one edgekit wrote ({what}); delete it or re-export")

    if not isinstance(d, dict):
        raise bad(f"a JSON {type(d).__name__}, not an object")
    fmt, precision = d.get("format", ""), d.get("precision", "")
    card, source, meta = (d.get(k) or {} for k in ("card", "source", "meta"))
    for key, value, kind in (("format", fmt, str), ("precision", precision, str), ("card", card, dict),
                             ("source", source, dict), ("meta", meta, dict)):
        if not isinstance(value, kind):
            raise bad(f"'{key}' is {type(value).__name__}, not {kind.__name__}")
    for key in _SOURCE_TEXT:
        if not isinstance(source.get(key), (str, type(None))):
            raise bad(f"'source.{key}' is {type(source.get(key)).__name__}, not a string")
    return fmt, precision, card, source, meta


def artifact_path(out_dir: Path, model: str, precision: str, fmt: str) -> Path:
    """Where an export writes: ``<out>/<model>_<precision><suffix of the format>``."""
    spec = FORMATS.get(fmt)
    return Path(out_dir) / f"{model}_{precision}{spec.infix}{spec.suffix}"
