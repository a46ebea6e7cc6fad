"""Local transport: this machine behind the same interface, so `--device local` runs the very
path a Pi does (temp dir, runner.py, JSON back) and tests can exercise it without a rig."""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Sequence

from ..errors import DeviceError
from .transport import DEFAULT_TIMEOUT, Completed, run_local


class LocalTransport:
    name = "local"

    def open(self) -> "LocalTransport":
        return self

    def close(self) -> None:
        pass

    def run(self, argv: Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> Completed:
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        return run_local(argv, timeout, env=env, what=f"local: {argv[0]}")

    def push(self, local: Path, remote: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        try:
            shutil.copyfile(local, remote)
        except OSError as exc:
            raise DeviceError(f"local: cannot copy {local} to {remote} ({exc.strerror or exc})") from None

    def pull(self, remote: str, local: Path, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.push(Path(remote), str(local), timeout)

    def remove(self, remote: str) -> None:
        if os.path.isdir(remote) and not os.path.islink(remote):
            shutil.rmtree(remote, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(remote)
