"""Import TensorFlow quietly and keep its C++ chatter off the user's terminal."""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator

from .._optional import require


def import_tf():
    """tensorflow, imported without its start-up chatter on the user's terminal.

    TF reads TF_CPP_MIN_LOG_LEVEL once, at import; absl's "log messages before
    absl::InitializeLog()" banner ignores it, so the import runs with fd 2 captured.
    """
    import logging
    import sys

    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with captured_stderr():
            tf = require("tensorflow", extra="tflite")
    else:
        tf = sys.modules["tensorflow"]
    logging.getLogger("absl").setLevel(logging.ERROR)  # "consider providing trackable_obj" etc.
    tf.get_logger().setLevel(logging.ERROR)
    return tf


@contextlib.contextmanager
def captured_stderr(fds: tuple = (2,)) -> Iterator[list]:
    """Redirect file descriptors (default: 2, the converter's C++ logs) to a temp file.

    Yields a list that receives the captured text when the block ends, so callers can
    quote it in an error; on success it is simply dropped. ``fds=(1, 2)`` also keeps a
    converter's progress printing off stdout (where --json output goes).
    """
    import sys

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
