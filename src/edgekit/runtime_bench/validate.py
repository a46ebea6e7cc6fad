"""Validate an exported file against the float model on real images it was not calibrated on."""
from __future__ import annotations

from pathlib import Path

from .._finite import require_finite_arrays
from .engines import open_engine
from .metrics import agreement


def validate_outputs(reference_outputs, artifact_path: Path, images, engine: str | None = None,
                     threads: int = 1) -> dict:
    """Run ``images`` through the file and compare with ``reference_outputs`` (same order)."""
    with open_engine(Path(artifact_path), engine, threads=threads) as eng:
        outs = eng.run(images.arrays)
        runtime = {"engine": eng.name, "runtime_version": eng.runtime_version}
    require_finite_arrays(outs, images.names, f"{Path(artifact_path).name}'s outputs",
                          "The file does not compute: re-export it (check the weights and the calibration data)")
    result = agreement(reference_outputs, outs, images.names, images.labels)
    result.update(runtime)
    result["data"] = images.summary()
    return result
