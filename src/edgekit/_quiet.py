"""Keep third-party chatter off the user's terminal: native code's fd 1/2 captured while it runs."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Iterator


@contextlib.contextmanager
def captured_stderr(fds: tuple = (2,)) -> Iterator[list]:
    """Redirect file descriptors (default: 2, a converter's C++ logs) to a temp file.

    Yields a list that receives the captured text when the block ends, so callers can
    quote it in an error; on success it is simply dropped. ``fds=(1, 2)`` also keeps a
    converter's progress printing off stdout (where --json output goes).
    """
    out: list = []
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(fd) for fd in fds]
    except (OSError, ValueError):  # no real descriptors (embedded interpreters): nothing to capture
        yield out
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        for fd in fds:
            os.dup2(tmp.fileno(), fd)
        try:
            yield out
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, old in zip(fds, saved):
                os.dup2(old, fd)
                os.close(old)
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", "replace"))
