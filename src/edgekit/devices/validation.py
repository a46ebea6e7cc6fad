"""On-device validation: the same file, the same inputs, outputs from the device vs from this host.

Inputs are real photos: ``--data`` (a folder, preprocessed by the file's model card, or a
.npy of model-ready inputs), else the evaluation half of the photos shipped with edgekit.  A
file without a sidecar gets ImageNet-style preprocessing at its own input size.  The host's
outputs come from runner.py too (a fresh process, same engine), so the only difference left
is the device: its CPU, its runtime build.  int8 files are expected to match exactly;
float files within rounding (max abs diff is reported, never hidden behind a tolerance).
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..errors import ConfigError, DataError, DeviceError
from ..runtime_bench.command import RUNNER, runner_argv
from ..runtime_bench.engines import EngineSpec
from .transport import tail


@dataclass
class HostReference:
    file: Path
    inputs: Path  # .npy pushed to every device
    outputs: np.ndarray
    origin: str
    runtime: str


def _host_runner(path: Path, engine: EngineSpec, work: Path, tag: str,
                 inputs: Optional[Path] = None) -> tuple[dict, Optional[Path]]:
    json_out, out_npy = work / f"{tag}.json", work / f"{tag}.npy"
    argv = runner_argv([sys.executable, str(RUNNER)], path, 1, json_out, engine, None,
                       inputs, out_npy if inputs is not None else None)
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       timeout=1800, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    doc = json.loads(json_out.read_text()) if json_out.is_file() else {}
    if p.returncode != 0 or "error" in doc:
        raise DeviceError(f"validation reference on this host failed for {path.name}: "
                          f"{doc.get('error') or tail(p.stderr) or f'exit {p.returncode}'}")
    return doc, (out_npy if inputs is not None else None)


def _images(path: Path, data: Optional[Path], work: Path, engine: EngineSpec, progress) -> tuple[np.ndarray, str]:
    from ..data import default_photos, split_calibration_eval
    from ..data.sources import load_image_set
    from ..export.artifact import Artifact
    from ..zoo.card import Preprocess

    card = Artifact.load(path).model_card
    if card is not None:
        pre = card.preprocess
    else:  # a bare file: its input size from the file itself
        doc, _ = _host_runner(path, engine, work, "shape")
        shape = doc["input"]["shape"]
        if len(shape) != 4 or 3 not in (shape[1], shape[3]):
            raise ConfigError(f"{path.name} takes input {shape}, not images; pass --data FILE.npy with model-ready inputs")
        side = shape[2] if shape[1] == 3 else shape[1]
        pre = Preprocess.for_size(int(side))
        progress(f"validate: {path.name} has no sidecar: ImageNet preprocessing at {side}x{side}")
    if data is not None:
        s = load_image_set(Path(data), pre)
        return s.arrays, str(data)
    _, evalset = split_calibration_eval(default_photos(pre))
    return evalset.arrays, f"{evalset.origin}, evaluation half ({len(evalset)} photos)"


def host_reference(path: Path, engine: EngineSpec, data: Optional[Path], work: Path,
                   progress: Callable[[str], None] = lambda m: None) -> HostReference:
    """Inputs for the devices and this host's outputs of ``path`` on them."""
    tag = f"ref-{abs(hash(str(path))) % 10**8}"
    if data is not None and Path(data).suffix == ".npy":
        if not Path(data).is_file():
            raise DataError(f"--data '{data}' does not exist")
        inputs, origin = Path(data), str(data)
    else:
        arrays, origin = _images(Path(path), data, work, engine, progress)
        inputs = work / f"{tag}-inputs.npy"
        np.save(inputs, arrays.astype(np.float32))
    progress(f"validate: host reference outputs of {Path(path).name} ({origin})")
    doc, out = _host_runner(Path(path), engine, work, tag, inputs)
    return HostReference(Path(path), inputs, np.load(out), origin,
                         f"{doc.get('runtime')} {doc.get('runtime_version')} on {doc['host']['machine']}")


def compare(ref: HostReference, device_outputs: np.ndarray) -> dict:
    from ..runtime_bench.metrics import agreement

    out = {"reference": f"this host, runner.py, same file ({ref.runtime})", "inputs": ref.origin,
           "samples": int(len(ref.outputs))}
    if device_outputs.shape != ref.outputs.shape:
        return {**out, "status": "mismatch", "equal": False,
                "reason": f"device outputs {device_outputs.shape} vs host {ref.outputs.shape}"}
    a = agreement(ref.outputs, device_outputs)
    sqnr = a["sqnr_db"]
    out.update({"status": "equal" if np.array_equal(ref.outputs, device_outputs) else "differs",
                "equal": bool(np.array_equal(ref.outputs, device_outputs)),
                "max_abs_diff": a["max_abs_diff"], "top1_agreement": a["top1_agreement"],
                "top1_agreement_ci95": a["top1_agreement_ci95"],
                "top5_agreement": a["top5_agreement"], "cosine_mean": a["cosine_mean"], "cosine_min": a["cosine_min"],
                "sqnr_db": sqnr if math.isfinite(sqnr) else None})
    return out
