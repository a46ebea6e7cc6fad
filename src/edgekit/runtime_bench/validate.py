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
from ..errors import ConfigError, UnsupportedError
from .engines import engine_for, open_engine, runner_error
from .metrics import agreement


def validate_outputs(reference_outputs, artifact_path: Path, images, engine: str | None = None,
                     threads: int = 1, contained: bool = False) -> dict:
    """Run ``images`` through the file and compare with ``reference_outputs`` (same order).
    ``contained``: the runtime parses and runs the file in a process of its own (runner.py), so
    a file that crashes it (a malformed or hostile file) cannot take edgekit down with it."""
    if contained:
        outs, runtime = outputs_in_own_process(Path(artifact_path), images.arrays, engine, threads)
    else:
        with open_engine(Path(artifact_path), engine, threads=threads) as eng:
            outs = eng.run(images.arrays)
            runtime = {"engine": eng.name, "runtime_version": eng.runtime_version}
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


class RunnerFiles(NamedTuple):
    inputs: Path
    outputs: Path
    doc: Path


def outputs_in_own_process(path: Path, arrays: np.ndarray, engine: str | None, threads: int,
                           timeout: float = 1800) -> tuple[np.ndarray, dict]:
    """float32 outputs of ``arrays`` through ``path``, computed by runner.py in a fresh process."""
    from .command import RUNNER, start_runner, stop_runner

    spec = engine_for(path, engine)
    with tempfile.TemporaryDirectory(prefix="edgekit-validate-") as td:
        files = RunnerFiles(Path(td) / "in.npy", Path(td) / "out.npy", Path(td) / "result.json")
        np.save(files.inputs, np.ascontiguousarray(arrays, np.float32))
        proc = start_runner(outputs_argv([sys.executable, str(RUNNER)], path, spec, threads, files),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise UnsupportedError(f"{spec.name} did not finish running '{path.name}' within {timeout:.0f} s") \
                from None
        finally:
            stop_runner(proc)
        return read_runner_outputs(path, spec.name, proc.returncode, stderr, files)


def outputs_argv(program: list[str], path: Path, spec, threads: int, files: RunnerFiles) -> list[str]:
    """runner.py's command line for outputs only (one pass over the inputs, no timing)."""
    from .command import runner_argv

    return runner_argv(program, path, threads, files.doc, spec, inputs=files.inputs, outputs=files.outputs)


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
    if "error" in doc:  # the runner's one line (custom operators named, as in process)
        raise runner_error(doc.get("error_kind"), f"{path.name}: {doc['error']}", ConfigError)
    if returncode != 0 or not files.outputs.is_file():
        tail = " | ".join(stderr.strip().splitlines()[-3:])[-400:]
        raise UnsupportedError(f"{name} failed on '{path.name}' (exit {returncode}): {tail or 'no output'}")
    return np.load(files.outputs, allow_pickle=False), {"engine": name, "runtime_version": doc.get("runtime_version")}
