"""edgekit: export, quantize, validate and benchmark mobile image models.

The public API, importable with numpy alone (backends load lazily when used). Every function
takes keyword arguments after the first, returns typed results (``.to_dict()`` gives what
``--json`` prints), leaves its inputs as they were, reports progress only through
``progress`` (a callable taking one line) and writes nothing on stdout:

    import edgekit
    model = edgekit.get_model("mobilenet_v2", weights="mobilenet_v2-b0353104.pth")
    result = edgekit.export(model, out_dir="out", formats=["onnx", "tflite"], int8=True, progress=print)
    timing = edgekit.bench([a.path for a in result.artifacts], config=edgekit.BenchConfig(threads=(1, 2)))
"""
from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Sequence, Union

if TYPE_CHECKING:
    from .devices import DeviceOptions, Target
    from .export import ExporterOptions
    from .pipeline import DataOptions, ExportResult, RunResult
    from .quantize import QuantConfig
    from .runtime_bench.bench import BenchReport
    from .runtime_bench.config import BenchConfig
    from .sweep import SweepResult
    from .zoo import LoadedModel

__version__ = "0.1.0"
PathLike = Union[str, Path]
Progress = Optional[Callable[[str], None]]

# config and value types, imported when first used (``edgekit.BenchConfig``)
_TYPES = {"DataOptions": "pipeline", "ExportResult": "pipeline", "RunResult": "pipeline",
          "QuantConfig": "quantize", "CalibrationMethod": "types", "Precision": "types",
          "BenchConfig": "runtime_bench.config", "BenchReport": "runtime_bench.bench",
          "BenchResult": "runtime_bench.result", "TfliteOptions": "export", "OnnxOptions": "export",
          "OpenVINOOptions": "export", "NcnnOptions": "export", "Artifact": "export",
          "DeviceOptions": "devices", "EdgekitError": "errors", "SweepMatrix": "sweep", "SweepResult": "sweep"}


def __getattr__(name: str):
    if name in _TYPES:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_TYPES[name]}"), name)
    raise AttributeError(f"module 'edgekit' has no attribute '{name}'")


def _callback(progress: Progress) -> Callable[[str], None]:
    return progress or (lambda _msg: None)


def get_model(spec: str, *, weights: Optional[PathLike] = None, input_size: Optional[int] = None,
              mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
              resize: Optional[int] = None, color: Optional[str] = None, num_classes: Optional[int] = None,
              trust_model_code: bool = False) -> "LoadedModel":
    """A zoo model (`edgekit models`), a .pt2 / Keras file or ``module:factory``; never downloads."""
    from .zoo.resolve import load_model

    return load_model(spec, Path(weights) if weights else None, input_size, mean, std, resize, color, num_classes,
                      trust_code=trust_model_code)


def list_models() -> list[str]:
    from .zoo import list_models as _list

    return _list()


def export(model: "LoadedModel", *, out_dir: PathLike, formats: Sequence[str] = (), int8: bool = False,
           data: Optional["DataOptions"] = None, quant: Optional["QuantConfig"] = None,
           options: Sequence["ExporterOptions"] = (), progress: Progress = None) -> "ExportResult":
    """Fold BN, export each format (fp32, int8 if asked, the options' extras), validate each file."""
    from .pipeline import DataOptions, export as _export

    return _export(model, Path(out_dir), list(formats) or None, int8=int8, data=data or DataOptions(), quant=quant,
                   progress=_callback(progress), options=tuple(options))


def validate(artifact: PathLike, *, data: Optional[PathLike] = None, weights: Optional[PathLike] = None,
             engine: Optional[str] = None, threads: int = 1, trust_model_code: bool = False,
             progress: Progress = None) -> dict:
    """An exported file vs its float source model (named by its sidecar) on real images."""
    from .pipeline import validate as _validate

    return _validate(Path(artifact), Path(data) if data else None, Path(weights) if weights else None, engine,
                     threads, trust_code=trust_model_code, progress=_callback(progress))


def bench(files: Sequence[PathLike], *, config: Optional["BenchConfig"] = None, devices: Sequence[str] = (),
          device_options: Optional["DeviceOptions"] = None, progress: Progress = None) -> "BenchReport":
    """Time each file in fresh processes here, or on each device URI in ``devices``."""
    from .runtime_bench.config import BenchConfig

    config = config or BenchConfig()
    if devices:
        from .devices import DeviceOptions
        from .devices.fleet import bench_devices

        return bench_devices([Path(f) for f in files], config, list(devices), device_options or DeviceOptions(),
                             _callback(progress))
    from .runtime_bench.bench import bench as _bench

    return _bench([Path(f) for f in files], config, _callback(progress))


def run(model: "LoadedModel", *, out_dir: PathLike, formats: Sequence[str] = (), int8: bool = False,
        data: Optional["DataOptions"] = None, quant: Optional["QuantConfig"] = None,
        config: Optional["BenchConfig"] = None, reference: bool = True, db: Optional[PathLike] = None,
        label: Optional[str] = None, progress: Progress = None) -> "RunResult":
    """Export, validate, bench (and the float zoo model), record in the results database ``db``
    (not recorded without one), and write the report to OUT/report."""
    from .pipeline import DataOptions, run as _run
    from .runtime_bench.config import BenchConfig

    database = None
    if db is not None:
        from .report.db import ResultsDB

        database = ResultsDB(Path(db))
    try:
        return _run(model, Path(out_dir), config or BenchConfig(), list(formats) or None, int8=int8,
                    data=data or DataOptions(), quant=quant, reference=reference, db=database, label=label,
                    progress=_callback(progress))
    finally:
        if database is not None:
            database.close()


def sweep(*, models: Sequence[str], formats: Sequence[str], devices: Sequence[str] = (),
          precisions: Sequence[str] = ("fp32",), threads: Sequence[int] = (1,), input_size: Optional[int] = None,
          weights: Optional[dict] = None, config: Optional["BenchConfig"] = None, out_dir: PathLike = "edgekit-sweep",
          db: Optional[PathLike] = None, export_only: bool = False, force: bool = False,
          ray_address: Optional[str] = None, num_cpus: Optional[int] = None,
          device_options: Optional["DeviceOptions"] = None, label: Optional[str] = None,
          progress: Progress = None) -> "SweepResult":
    """Every model x format x precision x device x thread count on Ray (``pip install
    'edgekit[sweep]'``), recorded in the results database ``db`` (default: the usual one); jobs
    already recorded are skipped unless ``force``. ``config``: the bench settings (its threads
    are ignored: ``threads`` is a dimension of the matrix)."""
    from .report.db import ResultsDB
    from .sweep import SweepMatrix, run_sweep
    from .sweep.matrix import BENCH_KEYS

    bench = tuple((k, getattr(config, k)) for k in BENCH_KEYS) if config is not None else ()
    matrix = SweepMatrix(tuple(models), tuple(formats), tuple(precisions), tuple(devices), tuple(threads), input_size,
                         tuple((weights or {}).items()), bench)
    database = ResultsDB(Path(db) if db is not None else None)
    try:
        return run_sweep(matrix, Path(out_dir), database, export_only=export_only, force=force,
                         ray_address=ray_address, num_cpus=num_cpus, device_options=device_options, label=label,
                         progress=_callback(progress))
    finally:
        database.close()


def connect(uri: str, *, options: Optional["DeviceOptions"] = None) -> "Target":
    """A device target: 'local', 'ssh://[user@]host[:port]' or 'adb://SERIAL'."""
    from .devices.targets import connect as _connect

    return _connect(uri, options)


__all__ = ["__version__", "get_model", "list_models", "export", "validate", "bench", "run", "sweep", "connect",
           *_TYPES]
_FUNCTIONS = frozenset(__all__) - frozenset(_TYPES) - {"__version__"}


class _PublicAPI(types.ModuleType):
    """Importing a subpackage sets it as an attribute of its parent: the first `edgekit.export()`
    (which imports edgekit.export, the package) would replace the function with the package, so
    a second call failed ("'module' object is not callable"). The functions keep their names;
    the packages stay importable by their full name."""

    def __setattr__(self, name, value):
        if name in _FUNCTIONS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _PublicAPI
