"""The training loop: AdamW, warm-up + cosine per batch, validation after each epoch, resume.

Every random draw (the epoch's order, each batch's augmentation and dropout) is seeded from
(seed, epoch, step), so a run resumed from ``OUT.resume`` continues exactly where it stopped.
The first Ctrl-C stops after the current batch and saves a resume point; a second one stops at once
(the previous resume point stays intact).
"""
from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from . import checkpoint as ckpt
from .augment import model_inputs
from .config import TrainConfig
from .dataset import LabelledImages, split_train_val
from .init import build, freeze_backbone, set_train_mode


@dataclass
class TrainResult:
    out: Path
    card: object  # ModelCard of the trained model
    history: list = field(default_factory=list)
    val_top1: Optional[float] = None
    seconds: float = 0.0
    already_done: bool = False
    resumed_at: Optional[dict] = None
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"checkpoint": str(self.out), "model": self.card.name, "classes": list(self.card.labels),
                "input_size": self.card.preprocess.crop, "val_top1": self.val_top1, "seconds": round(self.seconds, 1),
                "already_done": self.already_done, "resumed_at": self.resumed_at, "history": self.history,
                "split": self.info.get("split"), "init": self.info.get("init")}


def trained_card(arch: str, classes, pre, origin: str):
    from ..zoo import MODELS

    base = MODELS.get(arch)
    return replace(base, num_classes=len(classes), classes="", labels=tuple(classes), preprocess=pre,
                   description=f"{arch} trained by edgekit train on {Path(origin).name or origin}: "
                               f"{len(classes)} classes, {pre.crop}x{pre.crop}")


def train(arch: str, data: LabelledImages, out: Path, pre, config: TrainConfig = TrainConfig(), *,
          weights: Optional[Path] = None, val: Optional[LabelledImages] = None, restart: bool = False,
          progress: Callable[[str], None] = print, live: Optional[Callable[[str], None]] = None) -> TrainResult:
    """Train ``arch`` on ``data`` (uint8 at ``pre.resize``) and write the checkpoint ``out``.

    ``val``: a validation set; default: ``config.val_fraction`` of ``data``, split by file name.
    """
    import torch

    out = Path(out)
    cfg = config.resolved(finetune=weights is not None)
    train_set, val_set = (data, val) if val is not None else split_train_val(data, cfg.val_fraction)
    progress(f"train: {len(train_set)} training images, {len(val_set)} validation images, "
             f"{len(data.classes)} classes, {pre.crop}x{pre.crop} input")
    card = trained_card(arch, data.classes, pre, data.origin)
    fingerprint = _fingerprint(arch, card, cfg, train_set, val_set, weights)
    resume_file = ckpt.resume_path(out)
    if restart:
        resume_file.unlink(missing_ok=True)
    elif out.is_file() and not resume_file.exists():
        done = ckpt.load(out).get("edgekit_train") or {}
        ckpt.check_fingerprint(out, done.get("fingerprint"), fingerprint)
        progress(f"train: {out} is already trained with these settings (val top-1 {done.get('val_top1', 0):.2%})")
        return TrainResult(out, card, done.get("history", []), done.get("val_top1"), done.get("seconds", 0.0),
                           already_done=True, info=done)
    ckpt.remove_stale_temps(out)

    module, init_info = build(card, data.classes, weights, progress)
    params = freeze_backbone(module) if cfg.freeze_backbone else list(module.parameters())
    opt = torch.optim.AdamW([{"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
                             {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}], lr=cfg.lr)
    batch = min(cfg.batch_size, len(train_set))
    steps = max(1, len(train_set) // batch)
    steps = min(steps, cfg.steps_per_epoch or steps)
    total = cfg.epochs * steps
    pos = {"epoch": 0, "step": 0, "loss_sum": 0.0, "seen": 0, "seconds": 0.0}
    history: list = []
    resumed_at = None
    if resume_file.exists():
        saved = ckpt.load(resume_file)
        ckpt.check_fingerprint(resume_file, saved.get("fingerprint"), fingerprint)
        module.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        pos, history = dict(saved["position"]), list(saved["history"])
        resumed_at = {"epoch": pos["epoch"] + 1, "step": pos["step"]}
        progress(f"train: resuming {resume_file.name} at epoch {pos['epoch'] + 1}, batch {pos['step']}/{steps}")

    def save_resume():
        ckpt.save_atomic({"fingerprint": fingerprint, "model": module.state_dict(), "optimizer": opt.state_dict(),
                          "position": dict(pos), "history": history}, resume_file)

    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    with _stop_on_sigint() as stop:
        while pos["epoch"] < cfg.epochs:
            e = pos["epoch"]
            order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(_seed(cfg.seed, e)))
            set_train_mode(module, cfg.freeze_backbone)
            t_epoch = last_save = last_line = t_start = time.monotonic()
            seen_start = pos["seen"]
            while pos["step"] < steps:
                s = pos["step"]
                g = torch.Generator().manual_seed(_seed(cfg.seed, e, s))
                torch.manual_seed(_seed(cfg.seed, e, s))  # dropout
                idx = order[s * batch:(s + 1) * batch].numpy()
                x = model_inputs(train_set.images[idx], pre, cfg.augment, g)
                y = torch.as_tensor(train_set.labels[idx])
                for group in opt.param_groups:
                    group["lr"] = cfg.lr_at(e * steps + s, total)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(module(x), y)
                if not torch.isfinite(loss):
                    raise _diverged(e, s, cfg)
                loss.backward()
                opt.step()
                now = time.monotonic()
                pos.update(step=s + 1, loss_sum=pos["loss_sum"] + float(loss.detach()) * len(idx), seen=pos["seen"] + len(idx),
                           seconds=pos["seconds"] + (now - t_epoch))
                t_epoch = now
                line = _bar(e, cfg.epochs, s + 1, steps, pos, (pos["seen"] - seen_start) / max(1e-9, now - t_start))
                if live is not None:
                    live(line)
                elif now - last_line > 60:
                    progress(line.lstrip("\r"))
                    last_line = now
                if stop.is_set():
                    save_resume()
                    if live is not None:
                        live("")
                    progress(f"interrupted: saved a resume point (epoch {e + 1}, batch {s + 1}/{steps}) in "
                             f"{resume_file}; run the same command again to resume")
                    raise KeyboardInterrupt
                if now - last_save > cfg.save_every_s:
                    save_resume()
                    last_save = now
            t_val = time.monotonic()
            acc, val_loss = evaluate(module, val_set, pre)
            pos["seconds"] += time.monotonic() - t_val
            history.append({"epoch": e + 1, "loss": pos["loss_sum"] / max(1, pos["seen"]), "val_top1": acc,
                            "val_loss": val_loss, "lr_end": opt.param_groups[0]["lr"],
                            "seconds": round(pos["seconds"], 1)})
            if live is not None:
                live("")
            progress(f"epoch {e + 1}/{cfg.epochs}: loss {history[-1]['loss']:.4f}, val top-1 {acc:.2%} "
                     f"({len(val_set)} images), {pos['seconds']:.0f} s so far")
            pos.update(epoch=e + 1, step=0, loss_sum=0.0, seen=0)
            save_resume()
    info = {"fingerprint": fingerprint, "arch": arch, "epochs": cfg.epochs, "history": history,
            "val_top1": history[-1]["val_top1"], "seconds": round(pos["seconds"], 1), "init": init_info,
            "config": cfg.to_dict(), "torch": str(torch.__version__),
            "threads": torch.get_num_threads(),
            "split": {"train": train_set.summary(), "val": val_set.summary(), "rule": _SPLIT_RULE if val is None
                      else "validation set given by the caller"}}
    info = json.loads(json.dumps(info))  # plain data only: torch.load(weights_only=True) reads nothing else
    module.eval()
    ckpt.save_atomic(ckpt.final_checkpoint(module.state_dict(), card, info), out)
    resume_file.unlink(missing_ok=True)
    progress(f"train: wrote {out} (val top-1 {info['val_top1']:.2%}, {info['seconds']:.0f} s)")
    return TrainResult(out, card, history, info["val_top1"], info["seconds"], resumed_at=resumed_at, info=info)


_SPLIT_RULE = "per class, files ranked by sha256 of their relative path; the first val_fraction validate"


def evaluate(module, data: LabelledImages, pre, batch: int = 256) -> tuple[float, float]:
    """(top-1 accuracy, mean cross-entropy) of ``module`` on ``data`` with the card's centre crop."""
    import torch

    module.eval()
    correct, loss_sum = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(data), batch):
            logits = module(model_inputs(data.images[i:i + batch], pre))
            y = torch.as_tensor(data.labels[i:i + batch])
            correct += int((logits.argmax(1) == y).sum())
            loss_sum += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
    return correct / max(1, len(data)), loss_sum / max(1, len(data))


def _fingerprint(arch, card, cfg, train_set, val_set, weights) -> dict:
    from .._files import sha256

    fp = {"arch": arch, "classes": list(card.labels), "preprocess": card.to_dict()["preprocess"],
          "config": cfg.to_dict(), "train_images": train_set.names_sha256(), "val_images": val_set.names_sha256(),
          "init": sha256(Path(weights)) if weights is not None else "scratch"}
    return json.loads(json.dumps(fp))  # plain lists, as they come back from torch.load


def _seed(*parts: int) -> int:
    h = 0
    for p in parts:
        h = (h * 1_000_003 + int(p) + 1) % (2 ** 62)
    return h


def _bar(e: int, epochs: int, s: int, steps: int, pos: dict, rate: float) -> str:
    width = 24
    filled = int(width * s / steps)
    return (f"\repoch {e + 1}/{epochs} [{'#' * filled}{'.' * (width - filled)}] {s}/{steps} "
            f"loss {pos['loss_sum'] / max(1, pos['seen']):.4f}, {rate:.0f} img/s")


def _diverged(e: int, s: int, cfg: TrainConfig):
    from ..errors import ConfigError

    return ConfigError(f"Training diverged (loss not finite) at epoch {e + 1}, batch {s + 1} with --lr {cfg.lr:g}; "
                       f"try a lower --lr, e.g. --lr {cfg.lr / 4:g}, with --restart")


@contextlib.contextmanager
def _stop_on_sigint():
    """First SIGINT: set the flag (stop after this batch); second: KeyboardInterrupt at once."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
