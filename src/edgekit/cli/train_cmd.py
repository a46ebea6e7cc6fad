"""`edgekit train ARCH --data DIR`: fine-tune (with --weights) or train a zoo architecture on a
folder of labelled images; writes a checkpoint that `edgekit export ARCH --weights` reads."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import emit, handle_errors, json_option, progress, table


@click.command("train")
@click.argument("arch")
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path),
              help="Labelled images: one subfolder per class (DIR/cat/*.jpg), or DIR/labels.csv (file,label).")
@click.option("--weights", type=click.Path(path_type=Path),
              help="Start from this checkpoint (its backbone; a new head for your classes). Default: from scratch.")
@click.option("--out", type=click.Path(path_type=Path), help="Checkpoint to write. Default: edgekit-out/ARCH_trained.pt")
@click.option("--epochs", type=int, help="Default: 10 with --weights, 30 from scratch.")
@click.option("--lr", type=float, help="Peak learning rate (AdamW). Default: 5e-4 with --weights, 5e-3 from scratch.")
@click.option("--batch-size", default=64, show_default=True)
@click.option("--input-size", type=int, help="Square input size. Default: the architecture's (or --weights' card).")
@click.option("--resize", type=int, help="Shorter side before the centre crop. Default: input size / 0.875.")
@click.option("--val-fraction", default=0.2, show_default=True, help="Share of each class held out for validation (by file name).")
@click.option("--freeze-backbone", is_flag=True, help="Train the new head only (fast; for a few photos per class).")
@click.option("--no-flip", is_flag=True, help="No left-right mirroring in augmentation (e.g. for text or digits).")
@click.option("--skip-unreadable", is_flag=True, help="Train without images that cannot be decoded (default: refuse).")
@click.option("--restart", is_flag=True, help="Discard an unfinished run (OUT.resume) or a finished OUT and start over.")
@click.option("--seed", default=0, show_default=True)
@click.option("--threads", type=int, help="PyTorch CPU threads. Default: PyTorch's.")
@json_option
@handle_errors
def command(arch, data_dir, weights, out, epochs, lr, batch_size, input_size, resize, val_fraction,
            freeze_backbone, no_flip, skip_unreadable, restart, seed, threads, as_json):
    """Train ARCH (a zoo name, see `edgekit models`) on the labelled images in --data."""
    from .._files import ensure_writable_dir
    from ..train import Augment, TrainConfig, read_labelled_folder, train
    from ..train.init import build
    from ..zoo import MODELS

    config = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, val_fraction=val_fraction, seed=seed,
                         augment=Augment(flip=not no_flip), freeze_backbone=freeze_backbone)
    card = MODELS.get(arch)
    if freeze_backbone and weights is None:
        from ..errors import ConfigError

        raise ConfigError("--freeze-backbone keeps the backbone's weights: pass them with --weights CKPT")
    if weights is not None:
        build(card, ("a", "b"), weights)  # a file of another architecture fails before decoding any image
    pre = _preprocess(card, weights, input_size, resize)
    out = out or Path("edgekit-out") / f"{arch}_trained.pt"
    ensure_writable_dir(out.parent)
    if threads:
        import torch

        torch.set_num_threads(threads)
    data = read_labelled_folder(data_dir, pre.resize, skip_unreadable=skip_unreadable, progress=progress)
    result = train(arch, data, out, pre, config, weights=weights, restart=restart, progress=progress,
                   live=_live if sys.stderr.isatty() else None)
    doc = {**result.to_dict(), "skipped_unreadable": data.skipped,
           "next": f"edgekit export {arch} --weights {out} --int8 --calib {data_dir}"}
    emit(doc, as_json, _human)


def _preprocess(card, weights, input_size, resize):
    """The architecture's preprocessing (or the --weights card's), at --input-size if given."""
    from dataclasses import replace

    pre = card.preprocess
    if weights is not None:
        from ..zoo.weights import read_checkpoint

        saved = read_checkpoint(weights)[1]
        if saved and saved.get("preprocess"):
            from ..zoo.card import ModelCard

            pre = ModelCard.from_dict(saved).preprocess
    if input_size:
        return replace(pre, crop=input_size, resize=resize or round(input_size / 0.875))
    return replace(pre, resize=resize) if resize else pre


def _live(msg: str) -> None:
    click.echo(msg or "", err=True, nl=not msg)


def _human(doc: dict) -> str:
    rows = [{"epoch": h["epoch"], "loss": h["loss"], "val_top1": 100 * h["val_top1"], "s": h["seconds"]}
            for h in doc["history"]]
    state = "already trained" if doc["already_done"] else "trained"
    lines = [table(rows, [("epoch", "epoch"), ("loss", "train loss"), ("val_top1", "val top-1 %"), ("s", "seconds")]),
             f"{state}: {doc['checkpoint']} ({doc['model']}, {len(doc['classes'])} classes, "
             f"{doc['input_size']}x{doc['input_size']}, val top-1 {100 * (doc['val_top1'] or 0):.1f}%)"]
    if doc["skipped_unreadable"]:
        lines.append(f"skipped {len(doc['skipped_unreadable'])} unreadable images")
    lines.append(f"next: {doc['next']}")
    return "\n".join(lines)
