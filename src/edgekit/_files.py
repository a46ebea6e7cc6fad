"""File helpers: atomic writes (temp file + rename), staged runs, hashes, writable-directory checks."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import ConfigError


def sha256(path: Path, limit: int | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ensure_writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and prove we can write there, before any slow work."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".edgekit-probe-"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"Output directory '{path}' is not writable ({exc.strerror or exc}). "
            "Choose another with --out DIR."
        ) from None
    return path


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temp path next to ``final``; rename it into place only if the block succeeds."""
    final = Path(final)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600; give the file the user's usual mode
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json_atomic(final: Path, doc: dict) -> None:
    with atomic_path(final) as tmp:
        tmp.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")


@contextlib.contextmanager
def staging_dir(out_dir: Path) -> Iterator[Path]:
    """A private folder inside ``out_dir`` (same file system, so moving out is a rename) where a
    run writes everything; removed when the block ends, however it ends. Nothing in ``out_dir``
    changes until ``move_into`` is called, so a failed run leaves earlier files as they were."""
    stage = Path(tempfile.mkdtemp(dir=out_dir, prefix=".edgekit-run-"))
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def move_into(files: list[Path], out_dir: Path) -> list[Path]:
    """Rename staged files into ``out_dir`` in the order given (each rename is atomic)."""
    moved = []
    for f in files:
        final = Path(out_dir) / Path(f).name
        os.replace(f, final)
        moved.append(final)
    return moved
