"""BenchResult: one file timed at one thread count, parsed once from runner.py's JSON.

The runner's document (schema in runner.py, plus pool.py's fields, plus what bench and
devices add: "file", "engine_name", "artifact", "where", "device", "validation") stays the
form results are printed (--json) and stored in (the results database); code reads the
typed fields. ``BenchResult.of`` takes either form, so documents read back from JSON or the
database are parsed at the door.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional, Union

from .._env import environment
from ..errors import DeviceError

STAT_KEYS = ("runs", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "min_ms", "max_ms")


@dataclass(frozen=True)
class LatencyStats:
    runs: int
    p50_ms: Optional[float]  # None where the tool prints no percentiles (benchmark_model)
    p90_ms: Optional[float]
    p99_ms: Optional[float]
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float


@dataclass(frozen=True)
class ArtifactInfo:
    """What was timed, from the file's sidecar (or its name): model, format, precision, accuracy."""

    model: str
    format: str
    precision: str
    accuracy: Optional[dict] = None

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class BenchResult:
    file: str
    engine: str  # the EngineSpec name ("openvino-bf16"); runner's own backend name is ``backend``
    backend: str
    threads: int
    stats: LatencyStats
    artifact: Optional[ArtifactInfo]
    runtime: Optional[str]
    runtime_version: Optional[str]
    model_sha256: Optional[str]
    file_size_bytes: Optional[int]
    load_ms: Optional[float]
    first_inference_ms: Optional[float]
    peak_rss_mb: Optional[float]
    precision_hint: Optional[str]
    processes: int
    timer: Optional[str]
    host: dict
    times_ms: Optional[list]
    where: Optional[str]  # a device URI; None: this host
    doc: dict  # the whole document, as printed and stored

    @classmethod
    def parse(cls, doc: dict) -> "BenchResult":
        try:
            stats = LatencyStats(**{k: doc["stats"][k] for k in STAT_KEYS})
            art = doc.get("artifact")
            return cls(file=doc["file"], engine=doc.get("engine_name") or doc["engine"], backend=doc["engine"],
                       threads=int(doc["threads"]), stats=stats,
                       artifact=ArtifactInfo(**art) if art else None, runtime=doc.get("runtime"),
                       runtime_version=doc.get("runtime_version"), model_sha256=doc.get("model_sha256"),
                       file_size_bytes=doc.get("file_size_bytes"), load_ms=doc.get("load_ms"),
                       first_inference_ms=doc.get("first_inference_ms"), peak_rss_mb=doc.get("peak_rss_mb"),
                       precision_hint=doc.get("precision_hint"), processes=doc.get("processes", 1),
                       timer=doc.get("timer"), host=doc.get("host") or {}, times_ms=doc.get("times_ms"),
                       where=doc.get("where"), doc=doc)
        except (KeyError, TypeError) as exc:
            raise DeviceError(f"a bench result for {doc.get('file', '?')} lacks {exc} (not runner.py's schema)") from None

    @classmethod
    def of(cls, r: Union["BenchResult", dict]) -> "BenchResult":
        return r if isinstance(r, BenchResult) else cls.parse(r)

    def to_dict(self) -> dict:
        return self.doc


def results_of(results) -> list[BenchResult]:
    return [BenchResult.of(r) for r in results]


def bench_environment(results) -> dict:
    """The environment of a bench: this host, edgekit, numpy, and the runtimes and threads used."""
    results = results_of(results)
    return environment({r.runtime or r.backend: r.runtime_version for r in results},
                       sorted({r.threads for r in results})) if results else environment()
