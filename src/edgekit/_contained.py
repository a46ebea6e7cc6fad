"""Run one edgekit function in a child process, so that a native parser or runtime that crashes
(SIGSEGV, abort) or hangs on a malformed file ends that process, not edgekit: the crash is
reported in one line and edgekit exits as usual.

    doc = call("edgekit.inspect:inspect_file", str(path), what=f"inspecting '{path}'")

The child (``python -m edgekit._contained TARGET OUT ARGS...``) writes ``{"result": ...}`` or
``{"error": ..., "kind": "ConfigError"}`` to OUT (a file: runtimes print on stdout); the parent
raises the same EdgekitError kind. Anything else in the child is a bug and keeps its traceback.
"""
from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from . import errors


def call(target: str, *args: str, what: str, timeout: float = 600.0):
    fd, out = tempfile.mkstemp(prefix="edgekit-contained-", suffix=".json")
    os.close(fd)
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    src = str(Path(__file__).resolve().parents[1])  # this edgekit, even from a source tree
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    proc = subprocess.Popen([sys.executable, "-m", "edgekit._contained", target, out, *args], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise errors.UnsupportedError(f"{what} did not finish within {timeout:.0f} s and was stopped; "
                                          "the file may be malformed") from None
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        text = Path(out).read_text()
    finally:
        Path(out).unlink(missing_ok=True)
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        raise errors.UnsupportedError(
            f"{what} crashed ({name}) in a process of its own: the file is malformed or triggers a bug in "
            f"the parser or runtime it needs; edgekit itself was not affected")
    doc = json.loads(text) if text.strip() else {}
    if "error" in doc:
        kind = getattr(errors, doc.get("kind", ""), None)
        kind = kind if isinstance(kind, type) and issubclass(kind, errors.EdgekitError) else errors.EdgekitError
        raise kind(doc["error"])
    if "result" not in doc:  # an edgekit bug in the child: show its traceback
        raise RuntimeError(f"{what} failed in its child process (exit {proc.returncode}):\n"
                           f"{stderr.decode(errors='replace')[-4000:]}")
    return doc["result"]


def _main(argv: list[str]) -> int:
    target, out, *args = argv
    module, _, name = target.partition(":")
    fn = getattr(importlib.import_module(module), name)
    try:
        doc = {"result": fn(*args)}
    except errors.EdgekitError as exc:
        doc = {"error": str(exc), "kind": type(exc).__name__}
    Path(out).write_text(json.dumps(doc, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
