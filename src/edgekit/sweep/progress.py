"""The progress bar over the whole matrix: done / running / failed / left, one line per change."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

WIDTH = 24


@dataclass
class Progress:
    total: int
    say: Callable[[str], None]
    done: int = 0
    failed: int = 0
    resumed: int = 0
    running: set = field(default_factory=set)
    exports_total: int = 0
    exports_done: int = 0
    started: float = field(default_factory=time.monotonic)
    _last: str = ""

    @property
    def left(self) -> int:
        return self.total - self.done - self.failed - len(self.running)

    def line(self) -> str:
        filled = round(WIDTH * (self.done + self.failed) / self.total) if self.total else WIDTH
        bar = "#" * filled + "-" * (WIDTH - filled)
        exports = f"; exports {self.exports_done}/{self.exports_total}" if self.exports_total else ""
        return (f"sweep [{bar}] {self.done + self.failed}/{self.total}: {self.done} done, {len(self.running)} running, "
                f"{self.failed} failed, {self.left} left{exports} ({time.monotonic() - self.started:.0f} s)")

    def show(self, force: bool = False) -> None:
        """Say the line when a count changed (the seconds alone do not count)."""
        line = self.line()
        if force or line.rpartition(" (")[0] != self._last.rpartition(" (")[0]:
            self._last = line
            self.say(line)

    def start(self, key: str) -> None:
        self.running.add(key)

    def finish(self, key: str, ok: bool) -> None:
        self.running.discard(key)
        if ok:
            self.done += 1
        else:
            self.failed += 1
