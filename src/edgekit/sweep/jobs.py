"""The jobs of a sweep and their keys.

An ``ExportJob`` is one Ray task: one model in one format, writing every precision of that
format the matrix asks for (fp32 and int8 share the fold, the reference outputs and the int8
preparation), each file validated against the float model. A ``BenchJob`` times one of those
files on one device at one thread count.

A job's key is a digest of everything that makes its result what it is: model, weights hash,
format, precision, options (input size, the exporter's options, the bench settings), device,
threads and edgekit's version. A re-run skips a job whose key has a result in the database.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Optional

RANDOM_INIT = "random-init(torch.manual_seed(0))"  # zoo weights when none are given: the same every run


def digest(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class ModelSpec:
    name: str  # a zoo model
    weights: Optional[str] = None  # a local checkpoint; None: random init (seeded)
    weights_sha256: Optional[str] = None
    input_size: Optional[int] = None  # None: the model card's

    def fields(self) -> dict:
        return {"model": self.name, "weights_sha256": self.weights_sha256 or RANDOM_INIT,
                "input_size": self.input_size}


@dataclass(frozen=True)
class ExportJob:
    model: ModelSpec
    format: str
    precisions: tuple[str, ...]  # written by this one task, fp32 first
    export_options: dict = field(default_factory=dict)  # the exporter's options (TFLite: fp16, int16x8)
    edgekit_version: str = ""

    def file_fields(self, precision: str) -> dict:
        return {**self.model.fields(), "format": self.format, "precision": precision,
                "export_options": self.export_options, "edgekit": self.edgekit_version}

    def file_key(self, precision: str) -> str:
        """The key of one exported file (the export half of a bench job's key)."""
        return digest(self.file_fields(precision))

    @property
    def key(self) -> str:
        return digest({**self.file_fields(",".join(self.precisions))})

    @property
    def name(self) -> str:
        size = f"@{self.model.input_size}" if self.model.input_size else ""
        return f"{self.model.name}{size} {self.format}"

    def to_dict(self) -> dict:
        return {"kind": "export", "key": self.key, **self.model.fields(), "format": self.format,
                "precisions": list(self.precisions), "export_options": self.export_options}


@dataclass(frozen=True)
class BenchJob:
    export: ExportJob
    precision: str
    device: str  # a device URI as parsed (DeviceURI.text)
    threads: int
    bench_options: tuple[tuple[str, object], ...] = ()  # BenchConfig fields besides threads

    @property
    def key(self) -> str:
        return digest({**self.export.file_fields(self.precision), "device": self.device, "threads": self.threads,
                       "bench": dict(self.bench_options)})

    @property
    def file_key(self) -> str:
        return self.export.file_key(self.precision)

    @property
    def name(self) -> str:
        return f"{self.export.name} {self.precision} on {self.device} ({self.threads} thr)"

    def to_dict(self) -> dict:
        return {"kind": "bench", "key": self.key, **self.export.model.fields(), "format": self.export.format,
                "precision": self.precision, "export_options": self.export.export_options, "device": self.device,
                "threads": self.threads, "bench": dict(self.bench_options), "file_key": self.file_key}
