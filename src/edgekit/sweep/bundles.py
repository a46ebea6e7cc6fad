"""Exported files in the sweep's output folder: written from a task's bundle, read back on resume.

OUT/files/<model>[@size]_<format>_<export key>/ holds one export task's files (every
precision), each with its sidecar. Files are written into a staging folder and renamed into
place, so a folder never holds half a file; the sidecar's weights path is the user's file,
not the temp copy the task loaded.
"""
from __future__ import annotations

from pathlib import Path

from .._files import move_into, staging_dir
from .tasks import bundle_of, materialize


def folder_of(out_dir: Path, job) -> Path:
    size = f"@{job.model.input_size}" if job.model.input_size else ""
    return Path(out_dir) / "files" / f"{job.model.name}{size}_{job.format}_{job.key[:10]}"


def save_bundle(bundle: dict, out_dir: Path, job, precision: str):
    """Write one precision's bundle into the job's folder; its Artifact there."""
    from ..export.artifact import Artifact

    folder = folder_of(out_dir, job)
    folder.mkdir(parents=True, exist_ok=True)
    with staging_dir(folder) as stage:
        path = materialize(bundle, stage)
        art = Artifact.load(path)
        art.source["weights"] = job.model.weights  # the user's file (None: seeded random init)
        art.meta.setdefault("sweep", {}).update(export_key=job.key, file_key=job.file_key(precision))
        art.save_sidecar()
        final = move_into(art.files(), folder)
    return Artifact.load(final[-2])


def load_bundle(path: Path) -> dict:
    from ..export.artifact import Artifact

    return bundle_of(path, Artifact.load(path).files())
