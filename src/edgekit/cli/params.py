"""Every number a flag takes, checked here once: finite, in range, before any work (and every
input path: it exists and is a regular file, or a folder where a folder is meant).

Each kind of number is one click ParamType instance below, and every command that takes the
flag uses that instance, so ``--threads 0`` (or ``nan`` seconds) is refused by ``bench``,
``run`` and ``validate`` alike, with the same line. The maxima are sanity bounds, not tuning:
a value beyond them is a typo or a hang waiting to happen (``--threads 100000`` starts
100000 threads). Where a bound depends on the machine (threads <= its cores), the command
checks it where it runs (runtime_bench/measure.py ``check_threads_fit``).
"""
from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Optional

import click


class Number(click.ParamType):
    """An int or a finite float in [low, high] (``low_open``: > low)."""

    def __init__(self, kind: type, low: float, high: float, unit: str = "", low_open: bool = False) -> None:
        self.kind, self.low, self.high, self.unit, self.low_open = kind, low, high, unit, low_open
        self.name = "integer" if kind is int else "number"

    def describe(self) -> str:
        what = "an integer" if self.kind is int else "a finite number"
        lo, hi = (f"{self.low:g}", f"{self.high:g}") if self.kind is float else (f"{self.low}", f"{self.high}")
        low = f"> {lo} and <= {hi}" if self.low_open else f"from {lo} to {hi}"
        return f"{what} {low}" + (f" ({self.unit})" if self.unit else "")

    def check(self, text: str) -> Optional[float]:
        """The value, or None when ``text`` is not one of ours."""
        try:
            x = self.kind(text.strip()) if isinstance(text, str) else text
        except (ValueError, OverflowError):
            return None
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            return None
        if x < self.low or x > self.high or (self.low_open and x == self.low):
            return None
        return self.kind(x)

    def convert(self, value, param, ctx):
        x = self.check(value)
        if x is None:
            self.fail(f"takes {self.describe()}; got '{value}'", param, ctx)
        return x


class NumberList(click.ParamType):
    """Comma-separated numbers of one kind, each once: ``--threads 1,2,4``."""

    name = "list"

    def __init__(self, item: Number, size: Optional[int] = None, example: str = "", unique: bool = True) -> None:
        self.item, self.size, self.example, self.unique = item, size, example, unique

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        parts = str(value).split(",")
        items = tuple(self.item.check(p) for p in parts)
        count = f"{self.size} " if self.size else ""
        valid = (f"takes {count}comma-separated values, each {self.item.describe()}"
                 + (", each once" if self.unique and self.size is None else "") + f", e.g. {self.example}")
        if any(x is None for x in items) or (self.size and len(items) != self.size) \
                or (self.unique and len(set(items)) != len(items)):
            if self.size == 3 and len(parts) == 1 and items[0] is not None:
                return items * 3  # one value for all three channels
            self.fail(f"{valid}; got '{value}'", param, ctx)
        return items


class Fraction(click.ParamType):
    """A fraction or a percentage: ``0.1`` or ``10%``."""

    name = "fraction"

    def __init__(self, high: float) -> None:
        self.number = Number(float, 0, high)

    def convert(self, value, param, ctx):
        text = str(value).strip()
        x = self.number.check(text[:-1]) if text.endswith("%") else self.number.check(text)
        if x is None or (text.endswith("%") and x / 100 > self.number.high):
            self.fail(f"takes a fraction or a percentage from 0 to {self.number.high:g} (e.g. 0.1 or 10%); "
                      f"got '{value}'", param, ctx)
        return x / 100 if text.endswith("%") else x


class Share(click.ParamType):
    """A share > 0 and <= 1, as a fraction or a percentage: ``0.97`` or ``97%``."""

    name = "fraction"

    def convert(self, value, param, ctx):
        text = str(value).strip()
        x = Number(float, 0, 100 if text.endswith("%") else 1, low_open=True).check(text.removesuffix("%"))
        if x is None:
            self.fail(f"takes a fraction > 0 and <= 1 or a percentage > 0 and <= 100% (e.g. 0.97 or 97%); "
                      f"got '{value}'", param, ctx)
        return x / 100 if text.endswith("%") else x


class InputPath(click.ParamType):
    """A path edgekit reads: it must exist and be a regular file (or, with ``folder``, a folder).
    A FIFO or a device would block or never end (/dev/zero), so it is refused by name."""

    def __init__(self, what: str, folder: bool = False) -> None:
        self.what, self.folder = what, folder
        self.name = "path"

    def convert(self, value, param, ctx):
        try:
            mode = os.stat(value).st_mode
        except FileNotFoundError:
            self.fail(f"'{value}' does not exist; pass {self.what}", param, ctx)
        except OSError as exc:  # a name too long, a loop of symlinks, ...
            from .common import _short

            self.fail(f"cannot read '{_short(value)}' ({exc.strerror}); pass {self.what}", param, ctx)
        if stat.S_ISREG(mode) or (self.folder and stat.S_ISDIR(mode)):
            try:  # readable by us (permissions, ACLs), before any slow work
                os.close(os.open(value, os.O_RDONLY | (os.O_DIRECTORY if stat.S_ISDIR(mode) else 0)))
            except OSError as exc:
                self.fail(f"cannot read '{value}' ({exc.strerror}); check its permissions", param, ctx)
            return Path(value)
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else \
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else \
            "not a regular file"
        self.fail(f"'{value}' is {kind}, not a regular file; pass {self.what}", param, ctx)


MODEL_FILE = InputPath("a model file (.onnx, .tflite, OpenVINO .xml)")
WEIGHTS_FILE = InputPath("a weights file (.pth/.pt, or .weights.h5/.keras for --framework keras)")
DATA = InputPath("a folder of images or a .npy file", folder=True)
BINARY_FILE = InputPath("the benchmark_model executable for the device")
CONFIG_FILE = InputPath("an ssh config file")

MAX_THREADS = 1024

THREADS = Number(int, 1, MAX_THREADS, "threads")
THREAD_LIST = NumberList(THREADS, example="1,2")
RUNS = Number(int, 1, 10_000_000, "runs")
WARMUP_RUNS = Number(int, 0, 100_000, "runs")
SECONDS = Number(float, 0, 3600, "seconds")
LIMIT_SECONDS = Number(float, 0, 7200, "seconds", low_open=True)
COOLDOWN_SECONDS = Number(float, 0, 600, "seconds")
PROCESSES = Number(int, 1, 64, "processes")
PIXELS = Number(int, 8, 4096, "pixels")
CLASSES = Number(int, 1, 1_000_000, "classes")
SAMPLES = Number(int, 1, 1_000_000, "images")
COUNT = Number(int, 1, 1_000_000)
PORT = Number(int, 1, 65535, "a TCP port")
MEAN = NumberList(Number(float, 0, 255, "0-255 pixel scale"), size=3, example="127,127,127", unique=False)
STD = NumberList(Number(float, 0, 1000, "0-255 pixel scale", low_open=True), size=3, example="128,128,128",
                 unique=False)
GATE = Fraction(10)
EPOCHS = Number(int, 1, 100_000, "epochs")
LEARNING_RATE = Number(float, 0, 1, low_open=True)
BATCH = Number(int, 2, 65_536, "images")
SHARE = Number(float, 0, 1, low_open=True)
AGREEMENT = Share()
SLOWDOWN = Number(float, 1, 1000, "times the pure-int8 p50 at 1 thread")
SEED = Number(int, 0, 2 ** 32 - 1)
