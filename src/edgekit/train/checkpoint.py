"""The files training writes, each atomically (temp file, fsync, rename): an interrupt or a
SIGKILL leaves the previous file or the new one under the final name, never a torn one.

- ``OUT`` (written once, at the end): ``{"state_dict", "model_card", "edgekit_train"}``;
  ``--weights OUT`` and ``torch.load(OUT, weights_only=True)`` read it; the card carries
  class names, preprocessing and input size, so export needs no flag repeated.
- ``OUT.resume`` (during training, deleted at the end): model, optimizer, position
  (epoch, step), history, and the run's fingerprint, which must match to resume.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .._files import atomic_path
from ..errors import ConfigError

FORMAT = "edgekit-train-checkpoint/1"


def resume_path(out: Path) -> Path:
    return Path(out).with_name(Path(out).name + ".resume")


def save_atomic(obj: dict, final: Path) -> None:
    import torch

    with atomic_path(final) as tmp:
        torch.save(obj, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
    _fsync_dir(Path(final).parent)


def remove_stale_temps(final: Path) -> int:
    """Temp files a killed run left beside ``final`` (never the final file itself)."""
    n = 0
    for name in (Path(final).name, resume_path(final).name):
        for p in Path(final).parent.glob(f".{name}.*.part"):
            p.unlink(missing_ok=True)
            n += 1
    return n


def load(path: Path) -> dict:
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a file from something else, or damaged outside edgekit
        raise ConfigError(f"'{path}' is not a readable edgekit training file ({type(exc).__name__}); "
                          "delete it or pass --restart") from None
    if not isinstance(obj, dict):
        raise ConfigError(f"'{path}' is not an edgekit training file; delete it or pass --restart")
    return obj


def final_checkpoint(state_dict: dict, card, info: dict) -> dict:
    return {"state_dict": state_dict, "model_card": card.to_dict(), "edgekit_train": {"format": FORMAT, **info}}


def check_fingerprint(path: Path, saved: Optional[dict], wanted: dict) -> None:
    """Refuse to resume (or to call done) a file written by a run with other settings."""
    if saved == wanted:
        return
    if not isinstance(saved, dict):
        raise ConfigError(f"'{path}' was not written by `edgekit train`; choose another --out or pass --restart")
    then, now = _flat(saved), _flat(wanted)
    diffs = [k for k in sorted(set(then) | set(now)) if then.get(k) != now.get(k)]
    shown = ", ".join(f"{k}: {_short(then.get(k))} then, {_short(now.get(k))} now" for k in diffs[:2])
    hint = ("Run the same command as before to resume it, pass --restart to start over"
            if Path(path).name.endswith(".resume") else "Pass --restart to train again with these settings")
    raise ConfigError(f"'{path}' is from a training run with other settings ({shown}). {hint}, "
                      "or choose another --out")


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def _short(v) -> str:
    text = str(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
