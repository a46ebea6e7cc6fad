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
def captured_stderr() -> Iterator[list]:
    """Redirect file descriptor 2 (the converter's C++ logs) to a temp file.

    Yields a list that receives the captured text when the block ends, so callers can
    quote it in an error; on success it is simply dropped.
    """
    out: list = []
    try:
        saved = os.dup(2)
    except OSError:  # no real fd 2 (embedded interpreters): nothing to capture
        yield out
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", "replace"))
