"""`edgekit train`: fine-tune or train a zoo architecture on labelled images (PyTorch, CPU).

    data = read_labelled_folder(DIR, size=pre.resize)       # class subfolders or labels.csv
    result = train("mobilenet_v2", data, Path("out.pt"), pre, TrainConfig(), weights=ckpt)

The checkpoint carries the model card (class names, preprocessing, input size), so
``edgekit export ARCH --weights out.pt`` needs no flag repeated. Importing this package
imports torch.
"""
from .augment import Augment
from .config import TrainConfig
from .dataset import LabelledImages, read_labelled_folder, split_train_val
from .loop import TrainResult, evaluate, train, trained_card

__all__ = ["Augment", "LabelledImages", "TrainConfig", "TrainResult", "evaluate", "read_labelled_folder",
           "split_train_val", "train", "trained_card"]
