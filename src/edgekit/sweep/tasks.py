"""What one Ray task does, as plain functions (Ray calls them; tests can too).

Files travel as *bundles*: ``{"name": main file, "files": {file name: bytes}}`` (the model
file, its companions, its sidecar). An export task returns one bundle per precision through
Ray's object store; the driver writes each into the sweep's output folder and hands the same
object to every bench task of that file, wherever its device's node is. No shared file
system is assumed: bytes move once to each node that benches the file.
"""
from __future__ import annotations

import os
import socket
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Callable, Optional

from ..errors import EdgekitError, first_line

# Export tasks are single-threaded (one Ray CPU each): torch, TF and BLAS read these; ORT and
# the validation engines take threads=1 from the pipeline. OpenVINO's conversion and NNCF's
# calibration use OpenVINO's own pool, which has no process-wide setting.
THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def bundle_of(path: Path, files: list[Path]) -> dict:
    return {"name": Path(path).name, "files": {Path(f).name: Path(f).read_bytes() for f in files}}


def materialize(bundle: dict, folder: Path) -> Path:
    """Write a bundle's files into ``folder``; the main file's path."""
    for name, data in bundle["files"].items():
        if Path(name).name != name or name in ("", ".", ".."):  # names come from edgekit's exporters only
            raise ValueError(f"bundle file name {name!r} is not a plain file name")
        (folder / name).write_bytes(data)
    return folder / bundle["name"]


def _failure(exc: BaseException) -> dict:
    """One line for the job; the traceback too when it is not an EdgekitError (an edgekit bug)."""
    line = first_line(exc, 300) if isinstance(exc, EdgekitError) else f"{type(exc).__name__}: {first_line(exc, 260)}"
    out = {"error": line, "error_kind": type(exc).__name__}
    if not isinstance(exc, EdgekitError):
        out["traceback"] = traceback.format_exc()
    return out


def task_place() -> dict:
    node = None
    try:
        import ray

        if ray.is_initialized():
            node = ray.get_runtime_context().get_node_id()
    except ImportError:
        pass
    return {"node": node, "host": socket.gethostname(), "pid": os.getpid()}


def single_threaded() -> None:
    os.environ.update(THREAD_ENV)
    import torch

    torch.set_num_threads(1)


def unpinned() -> None:
    """Before a bench or probe: drop the one-thread settings (Ray sets OMP_NUM_THREADS=1 in its
    workers; an export task in this worker set the rest), which a local runner.py would inherit
    and which make `nproc` report one core."""
    for k in THREAD_ENV:
        os.environ.pop(k, None)


def export_files(job, weights: Optional[bytes], progress: Callable[[str], None] = lambda m: None) -> tuple:
    """(meta, bundle per precision in ``job.precisions``): meta holds timing, node, accuracy
    warnings, or an "error" line (bundles are then None)."""
    started = time.time()
    meta = {"started_at": started, **task_place()}
    try:
        single_threaded()
        import torch

        from ..export import TfliteOptions
        from ..pipeline import export
        from ..zoo.resolve import load_model

        with tempfile.TemporaryDirectory(prefix="edgekit-sweep-export-") as td:
            wpath = None
            if weights is not None:
                wpath = Path(td) / "weights.pth"
                wpath.write_bytes(weights)
            torch.manual_seed(0)  # random init, when no weights: the same model in every task
            loaded = load_model(job.model.name, wpath, input_size=job.model.input_size)
            options = (TfliteOptions(**job.export_options),) if job.format == "tflite" and job.export_options else ()
            result = export(loaded, Path(td) / "out", [job.format], int8="int8" in job.precisions,
                            options=options, progress=progress)
            by_precision = {a.precision: bundle_of(a.path, a.files()) for a in result.artifacts}
        missing = [p for p in job.precisions if p not in by_precision]
        if missing:
            raise RuntimeError(f"the export wrote no {', '.join(missing)} file")
        meta.update(ended_at=time.time(), warnings=result.warnings)
        return (meta, *[by_precision[p] for p in job.precisions])
    except Exception as exc:  # one job's failure is reported; the sweep goes on
        meta.update(ended_at=time.time(), **_failure(exc))
        return (meta, *[None] * len(job.precisions))


def bench_file(job, bundle: dict, cfg, options, progress: Callable[[str], None] = lambda m: None) -> dict:
    """Time the bundle's file on ``job.device`` at ``job.threads``: runner.py's document, or an error line."""
    from ..devices.fleet import bench_devices

    out = {"started_at": time.time(), **task_place()}
    unpinned()
    try:
        with tempfile.TemporaryDirectory(prefix="edgekit-sweep-bench-") as td:
            path = materialize(bundle, Path(td))
            report = bench_devices([path], replace(cfg, threads=(job.threads,)), [job.device], options, progress)
        if report.errors:
            e = report.errors[0]
            out.update(error=e["error"], error_kind=e["kind"])
        elif not report.results:
            out.update(error=f"{job.device}: no result came back", error_kind="DeviceError")
        else:
            out["result"] = report.results[0].to_dict()
    except Exception as exc:
        out.update(_failure(exc))
    out["ended_at"] = time.time()
    return out


def probe_device(uri: str, options) -> dict:
    """Reach the device from its node and say what it is, or why it cannot be reached."""
    from ..devices.fleet import summary_line
    from ..devices.targets import connect

    out = {"started_at": time.time(), **task_place()}
    unpinned()
    try:
        with connect(uri, options) as target:
            out["info"] = target.describe()
            out["summary"] = summary_line(out["info"])
    except Exception as exc:
        out.update(_failure(exc))
    out["ended_at"] = time.time()
    return out


def node_device_options(driver_options, driver_node: Optional[str]):
    """DeviceOptions where the task runs. A device is reached with the ssh config, adb server and
    benchmark binary of the node that holds it: the driver's flags on the driver's own node,
    else (and for flags not given) that node's EDGEKIT_SSH_CONFIG, ANDROID_ADB_SERVER_PORT and
    EDGEKIT_BENCHMARK_BINARY, as set where its `ray start` ran."""
    from ..devices import DeviceOptions

    mine = driver_node is not None and task_place()["node"] == driver_node
    env = os.environ

    def pick(flag, var, kind):
        if mine and flag is not None:
            return flag
        return kind(env[var]) if env.get(var) else None

    return DeviceOptions(ssh_config=pick(driver_options.ssh_config, "EDGEKIT_SSH_CONFIG", Path),
                         adb_server_port=pick(driver_options.adb_server_port, "ANDROID_ADB_SERVER_PORT", int),
                         benchmark_binary=pick(driver_options.benchmark_binary, "EDGEKIT_BENCHMARK_BINARY", Path),
                         cooldown_s=driver_options.cooldown_s)
