"""Validate an exported file against the float model on real images it was not calibrated on."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .._finite import require_finite_arrays
from ..errors import ConfigError, MissingDependencyError, UnsupportedError
from .engines import open_engine
from .metrics import agreement


def validate_outputs(reference_outputs, artifact_path: Path, images, engine: str | None = None,
                     threads: int = 1, contained: bool = False) -> dict:
    """Run ``images`` through the file and compare with ``reference_outputs`` (same order).
    ``contained``: the runtime parses and runs the file in a process of its own (runner.py), so
    a file that crashes it (a malformed or hostile file) cannot take edgekit down with it."""
    if contained:
        outs, runtime = outputs_in_own_process(Path(artifact_path), images.arrays, engine, threads)
    else:
        eng = open_engine(Path(artifact_path), engine, threads=threads)
        try:
            outs = eng.run(images.arrays)
            runtime = {"engine": eng.name, "runtime_version": eng.runtime_version}
        finally:
            eng.close()
    return compare_outputs(reference_outputs, outs, runtime, Path(artifact_path), images)


def compare_outputs(reference_outputs, outs, runtime: dict, artifact_path: Path, images) -> dict:
    """Agreement of the file's outputs with the float model's, once both are at hand."""
    ref = np.asarray(reference_outputs)
    if np.shape(outs) != ref.shape:
        raise ConfigError(f"'{artifact_path.name}' gives outputs of shape {list(np.shape(outs))} for "
                          f"{len(images)} images; its float model gives {list(ref.shape)}: the file is not an "
                          "export of that model (or is damaged)")
    require_finite_arrays(outs, images.names, f"{artifact_path.name}'s outputs",
                          "The file does not compute: re-export it (check the weights and the calibration data)")
    result = agreement(reference_outputs, outs, images.names, images.labels)
    result.update(runtime)
    result["data"] = images.summary()
    return result


def outputs_in_own_process(path: Path, arrays: np.ndarray, engine: str | None, threads: int,
                           timeout: float = 1800) -> tuple[np.ndarray, dict]:
    """float32 outputs of ``arrays`` through ``path``, computed by runner.py in a fresh process."""
    from .measure import _popen, _stop

    name = engine_for(path, engine)
    with tempfile.TemporaryDirectory(prefix="edgekit-validate-") as td:
        files = RunnerFiles(Path(td) / "in.npy", Path(td) / "out.npy", Path(td) / "result.json")
        np.save(files.inputs, np.ascontiguousarray(arrays, np.float32))
        proc = _popen([sys.executable, *runner_args(path, name, threads, files)], stdin=subprocess.DEVNULL,
                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise UnsupportedError(f"{name} did not finish running '{path.name}' within {timeout:.0f} s") from None
        finally:
            _stop(proc)
        return read_runner_outputs(path, name, proc.returncode, stderr, files)


class RunnerFiles(NamedTuple):
    inputs: Path
    outputs: Path
    doc: Path


def engine_for(path: Path, engine: str | None) -> str:
    from ..export.artifact import format_of
    from .engines.base import DEFAULT_ENGINE_FOR_FORMAT
    from .measure import RUNNER_ENGINES

    name = engine or DEFAULT_ENGINE_FOR_FORMAT[format_of(path)]
    if name not in RUNNER_ENGINES:
        raise ConfigError(f"Unknown engine '{name}' for validate. Valid: {', '.join(RUNNER_ENGINES)}")
    return name


def runner_args(path: Path, name: str, threads: int, files: RunnerFiles) -> list[str]:
    """runner.py's command line (after the interpreter) for outputs only: one pass, no timing."""
    from .measure import RUNNER, RUNNER_ENGINES

    eng, hint, _ = RUNNER_ENGINES[name]
    args = [str(RUNNER), "--model", str(path), "--engine", eng, "--threads", str(threads), "--warmup", "0",
            "--warmup-seconds", "0", "--min-runs", "1", "--min-seconds", "0", "--no-times",
            "--input-npy", str(files.inputs), "--output-npy", str(files.outputs), "--json-out", str(files.doc)]
    return args + (["--precision-hint", hint] if hint else [])


def read_runner_outputs(path: Path, name: str, returncode: int, stderr: str, files: RunnerFiles):
    """What the runner process left: its outputs, or one line saying why there are none."""
    if returncode < 0:
        raise UnsupportedError(f"{name} crashed ({signal.Signals(-returncode).name}) on '{path}' in a process "
                               "of its own: the file is malformed or triggers a bug in the runtime; edgekit itself "
                               "was not affected")
    try:
        doc = json.loads(files.doc.read_text()) if files.doc.is_file() else {}
    except json.JSONDecodeError:
        doc = {}
    if "error" in doc:
        if doc.get("error_kind") == "missing_runtime":
            raise MissingDependencyError(f"{path.name}: {doc['error']}")
        if name == "litert":  # the engine's own explanation (custom operators), as in-process
            from .engines.tflite_engine import _load_error

            explained = _load_error(path, RuntimeError(doc["error"]))
            if isinstance(explained, UnsupportedError):
                raise explained
        raise ConfigError(f"{path.name}: {doc['error']}")
    if returncode != 0 or not files.outputs.is_file():
        tail = " | ".join(stderr.strip().splitlines()[-3:])[-400:]
        raise UnsupportedError(f"{name} failed on '{path.name}' (exit {returncode}): {tail or 'no output'}")
    return np.load(files.outputs, allow_pickle=False), {"engine": name, "runtime_version": doc.get("runtime_version")}
