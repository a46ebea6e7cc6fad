"""The sweep matrix (models x formats x precisions x devices x threads), checked and expanded
into jobs before anything runs.

Given by flags or a small TOML file (flags win)::

    models = ["mobilenet_v2", "squeezenet1_1"]    # or "all": every zoo model
    formats = ["onnx", "tflite", "openvino"]
    precisions = ["fp32", "int8"]                 # fp16 / int16x8: TFLite only
    devices = ["local", "ssh://pi", "adb://SERIAL"]
    threads = [1]
    input_size = 96                               # every model; omit for each card's own
    [weights]                                     # optional; else random init (seeded)
    mobilenet_v2 = "mobilenet_v2-b0353104.pth"
    [bench]                                       # BenchConfig fields
    min_runs = 5
    min_seconds = 0

A (format, precision) pair the format does not write is left out of the matrix with a note
(ONNX has no fp16); everything else unknown is refused with one line.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Optional

from .._env import edgekit_version
from ..errors import ConfigError, MissingDependencyError
from .jobs import BenchJob, ExportJob, ModelSpec

KEYS = ("models", "formats", "precisions", "devices", "threads", "input_size", "weights", "bench")
BENCH_KEYS = ("min_runs", "min_seconds", "warmup_runs", "warmup_seconds", "max_seconds", "processes", "engine")
EXTRA_PRECISIONS = {"fp16": "fp16", "int16x8": "int16x8"}  # TfliteOptions flags that add a precision


@dataclass(frozen=True)
class SweepMatrix:
    models: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    precisions: tuple[str, ...] = ("fp32",)
    devices: tuple[str, ...] = ()
    threads: tuple[int, ...] = (1,)
    input_size: Optional[int] = None
    weights: tuple[tuple[str, str], ...] = ()  # (model, path)
    bench: tuple[tuple[str, object], ...] = ()  # BenchConfig overrides

    def merged(self, **given) -> "SweepMatrix":
        """This matrix with the flags that were given (None / empty: not given)."""
        return replace(self, **{k: v for k, v in given.items() if v not in (None, (), [])})


def from_toml(path: Path) -> SweepMatrix:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise MissingDependencyError("Reading a sweep TOML file on Python 3.10 needs tomli: "
                                         "pip install 'edgekit[sweep]'") from None
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"Cannot read sweep file '{path}': {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Sweep file '{path}' is not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - set(KEYS))
    if unknown:
        raise ConfigError(f"Unknown key '{unknown[0]}' in sweep file '{path}'. Valid: {', '.join(KEYS)}")
    bench = doc.get("bench") or {}
    bad = sorted(set(bench) - set(BENCH_KEYS)) if isinstance(bench, dict) else ["(not a table)"]
    if bad:
        raise ConfigError(f"Unknown [bench] setting '{bad[0]}' in '{path}'. Valid: {', '.join(BENCH_KEYS)}")
    weights = doc.get("weights") or {}
    if not isinstance(weights, dict):
        raise ConfigError(f"[weights] in '{path}' must be a table of model = \"path\"")
    base = path.parent  # relative weights paths are read from the TOML file's folder
    kw = {k: _strings(doc[k], k, path) for k in ("models", "formats", "precisions", "devices") if k in doc}
    if "threads" in doc:
        kw["threads"] = tuple(doc["threads"]) if isinstance(doc["threads"], list) else (doc["threads"],)
    if "input_size" in doc:
        kw["input_size"] = doc["input_size"]
    return SweepMatrix(**kw, weights=tuple((m, str(base / p)) for m, p in weights.items()),
                       bench=tuple(bench.items()))


def _strings(value, key: str, path: Path) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in items):
        raise ConfigError(f"'{key}' in '{path}' must be a list of strings, e.g. {key} = [\"...\"]")
    return tuple(items)


@dataclass
class SweepPlan:
    exports: list[ExportJob] = field(default_factory=list)
    benches: list[BenchJob] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    devices: tuple[str, ...] = ()
    bench_config: object = None  # BenchConfig (threads set per job)


def plan(matrix: SweepMatrix, export_only: bool = False) -> SweepPlan:
    """Check every dimension, then expand; raises ConfigError before any work."""
    from ..devices.targets import parse_uri
    from ..export import EXPORTERS
    from ..runtime_bench.config import BenchConfig
    from ..types import Precision
    from ..zoo import MODELS

    models = _expand_models(matrix.models, MODELS)
    for name, dims in (("models", models), ("formats", matrix.formats), ("precisions", matrix.precisions),
                       ("threads", matrix.threads)):
        if not dims:
            raise ConfigError(f"The sweep matrix is empty: no {name} given. Pass --{name} "
                              f"(e.g. --models mobilenet_v2 --formats onnx --devices local) or a TOML file")
    if not matrix.devices and not export_only:
        raise ConfigError("The sweep matrix is empty: no devices given. Pass --devices local[,ssh://HOST,adb://SERIAL] "
                          "or --export-only to export and validate without benchmarks")
    exporters = [EXPORTERS.get(f) for f in _unique(matrix.formats, "format")]
    missing = [e.format for e in exporters if not all(importlib.util.find_spec(m) for m in e.requires)]
    if missing:
        extra = {"tflite": "tflite", "openvino": "openvino", "onnx": "onnx"}.get(missing[0], missing[0])
        raise MissingDependencyError(f"{missing[0]} export needs {', '.join(EXPORTERS.get(missing[0]).requires)}: "
                                     f"pip install 'edgekit[{extra}]', or leave {missing[0]} out of --formats")
    precisions = [str(Precision.parse(p, "precision")) for p in _unique(matrix.precisions, "precision")]
    devices = tuple(parse_uri(u).text for u in _unique(matrix.devices, "device"))
    threads = _unique(matrix.threads, "thread count")
    if any(not isinstance(t, int) or isinstance(t, bool) or t < 1 for t in threads):
        raise ConfigError(f"--threads takes positive integers, e.g. --threads 1,2; got {','.join(map(str, threads))}")
    if matrix.input_size is not None and (not isinstance(matrix.input_size, int) or matrix.input_size < 16):
        raise ConfigError(f"--input-size must be an integer >= 16, got {matrix.input_size}")
    specs = _model_specs(models, matrix)
    cfg = BenchConfig(**dict(matrix.bench)) if matrix.bench else BenchConfig()  # checks the values
    bench_options = tuple((f.name, getattr(cfg, f.name)) for f in fields(cfg) if f.name in BENCH_KEYS)

    out = SweepPlan(devices=devices, bench_config=cfg)
    version = edgekit_version() or "unknown"
    for e in exporters:
        wanted = [p for p in precisions if p in e.precisions]
        dropped = [p for p in precisions if p not in e.precisions]
        if dropped:
            out.notes.append(f"{e.format} has no {', '.join(dropped)}: left out of the matrix "
                             f"({e.format} writes {', '.join(map(str, e.precisions))})")
        if not wanted:
            continue
        options = {EXTRA_PRECISIONS[p]: True for p in wanted if p in EXTRA_PRECISIONS}
        ordered = tuple(sorted(wanted, key=lambda p: list(map(str, e.precisions)).index(p)))
        for spec in specs:
            job = ExportJob(spec, e.format, ordered, options, version)
            out.exports.append(job)
            out.benches += [BenchJob(job, p, d, t, bench_options) for p in ordered for d in devices for t in threads]
    if not out.exports:
        raise ConfigError("The sweep matrix is empty: none of the formats writes the precisions asked for. "
                          + "; ".join(out.notes))
    return out


def _expand_models(names, registry) -> list[str]:
    out = []
    for n in names:
        if n == "all":
            out += registry.names()
        else:
            registry.get(n)  # an unknown name: one line with a did-you-mean, before any work
            out.append(n)
    return _unique(out, "model")


def _unique(values, what: str) -> list:
    seen = []
    for v in values:
        if v in seen:
            raise ConfigError(f"The {what} '{v}' is given twice in the sweep matrix")
        seen.append(v)
    return seen


def _model_specs(models: list[str], matrix: SweepMatrix) -> list[ModelSpec]:
    from .._files import sha256

    weights = dict(matrix.weights)
    stray = sorted(set(weights) - set(models))
    if stray:
        raise ConfigError(f"Weights are given for '{stray[0]}', which is not in the matrix's models "
                          f"({', '.join(models)})")
    specs = []
    for m in models:
        w = weights.get(m)
        if w is not None and not Path(w).is_file():
            raise ConfigError(f"Weights file '{w}' for {m} does not exist")
        specs.append(ModelSpec(m, str(Path(w).resolve()) if w else None, sha256(Path(w)) if w else None,
                               matrix.input_size))
    return specs
