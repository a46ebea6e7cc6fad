"""Fuzzing edgekit's readers: mutants of model files and sidecars, and a worker process that
runs on each the code `edgekit inspect` / `edgekit validate` run, reporting what happened.

Used by tests/test_fuzz.py (bounded, in CI) and benchmarks/fuzz_campaign.py (thousands).

Mutations (seeded, reproducible): bit flips, bytes set to boundary values, 32-bit boundary
integers written at 4-aligned offsets (flatbuffer offsets, protobuf lengths), zeroed runs,
truncation, deleted or duplicated chunks; sidecars also get JSON-level mutations (a leaf
replaced by a hostile value, a key dropped) so that they still parse and reach the code
behind the parser.

The worker (``python tests/fuzz_support.py``) reads one JSON job per line and answers one
line: {"outcome": "result" | "error" | "traceback", "detail": ...}. The CLI parses model files
in child processes (_contained.py, runner.py); the worker runs that same child code and the
same parent code in one process, so a native crash kills the worker: the caller sees EOF,
counts a contained crash (the CLI's child would have died, edgekit would have said so in one
line) and starts a new worker.
"""
from __future__ import annotations

import json
import math
import os
import random
import struct
import subprocess
import sys
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BOUNDARY_BYTES = (0x00, 0xFF, 0x7F, 0x80, 0x01)
BOUNDARY_INTS = (0, 1, -1, 0x7FFFFFFF, -0x80000000, 0xFFFFFFFF, 0x10000, 0x7FFF)
HOSTILE = (None, -1, 0, 2 ** 63, -1e308, float("nan"), float("inf"), "", "x" * 5000, [], {}, True, "../../etc/passwd",
           [1, 2, 3], {"a": {"b": {}}})


def _offset(n: int, rng: random.Random) -> int:
    """Half the time within 4 kB of either end, where a protobuf's graph and a flatbuffer's
    root tables and offsets are; weights fill the middle of a model file."""
    if rng.random() < 0.5 and n > 8192:
        return rng.randrange(4096) if rng.random() < 0.5 else n - 1 - rng.randrange(4096)
    return rng.randrange(n)


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """1 to 4 mutations of one kind each."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not b:
            break
        kind = rng.randrange(7)
        i = _offset(len(b), rng)
        if kind == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif kind == 1:
            b[i] = rng.choice(BOUNDARY_BYTES)
        elif kind == 2 and len(b) >= 8:
            j = min(i, len(b) - 4) & ~3
            v = rng.choice(BOUNDARY_INTS)
            b[j:j + 4] = struct.pack("<I", v & 0xFFFFFFFF)
        elif kind == 3:
            n = rng.randint(1, 64)
            b[i:i + n] = bytes(len(b[i:i + n]))
        elif kind == 4:
            del b[i:]
        elif kind == 5:
            del b[i:i + rng.randint(1, 64)]
        else:
            n = rng.randint(1, 64)
            b[i:i] = b[i:i + n]
    return bytes(b)


def _leaves(doc, path=()):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _leaves(v, path + (i,))
    if path:
        yield path


def mutate_sidecar(text: str, rng: random.Random) -> str:
    """Most mutants still parse (a hostile value or a missing key deep inside); some are bytes."""
    if rng.random() < 0.2:
        return mutate_bytes(text.encode(), rng).decode("utf-8", "replace")
    doc = json.loads(text)
    for _ in range(rng.randint(1, 3)):
        paths = list(_leaves(doc))
        if not paths:
            break
        path = rng.choice(paths)
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        if rng.random() < 0.25 and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = rng.choice(HOSTILE)
    return json.dumps(doc, allow_nan=True)


# ---- the worker: the code the CLI runs on a file, one job at a time ----

def _one_line(exc) -> tuple[str, str]:
    text = str(exc)
    return ("error", text) if "\n" not in text.strip() else ("traceback", f"multi-line error: {text[:500]}")


def _inspect(job):
    from edgekit.cli.inspect_cmd import _human
    from edgekit.inspect import inspect_file

    doc = json.loads(json.dumps(inspect_file(job["path"]), default=str))  # as it crosses from the child
    _human(doc)
    json.dumps(doc)
    return "inspected"


_refs: dict = {}


def _reference(sidecar_source: str, n_images: int):
    """(images, float outputs) for the model a seed sidecar names; computed once per worker."""
    if sidecar_source not in _refs:
        from edgekit.data import default_photos
        from edgekit.export.artifact import Artifact
        from edgekit.pipeline import reload_source
        from edgekit.runtime_bench.reference_engine import reference_engine

        art = Artifact.load(Path(sidecar_source))
        loaded = reload_source(art)
        images = default_photos(loaded.card.preprocess)
        images = images.subset(images.names[:n_images])
        _refs[sidecar_source] = (images, reference_engine(loaded).run(images.arrays))
    return _refs[sidecar_source]


def _validate_file(job):
    """validate's path for a model file whose sidecar is intact: runner.py's code (the child)
    on the mutant, then the parent's reading of what it left and the comparison."""
    import tempfile

    import numpy as np

    from edgekit.runtime_bench import runner
    from edgekit.runtime_bench.engines import engine_for
    from edgekit.runtime_bench.validate import RunnerFiles, compare_outputs, outputs_argv, read_runner_outputs

    images, ref = _reference(job["seed"], job.get("images", 4))
    path = Path(job["path"])
    spec = engine_for(path, None)
    with tempfile.TemporaryDirectory(prefix="fuzz-validate-") as td:
        files = RunnerFiles(Path(td) / "in.npy", Path(td) / "out.npy", Path(td) / "doc.json")
        np.save(files.inputs, images.arrays)
        rc = runner.main(outputs_argv([], path, spec, 1, files))
        outs, runtime = read_runner_outputs(path, spec.name, rc, "", files)
    result = compare_outputs(ref, outs, runtime, path, images)
    json.dumps(result, default=str)
    return f"top1 {result['top1_agreement']:.2f}"


def _validate_sidecar(job):
    """validate's path for a mutated sidecar next to an intact file: load it, rebuild the float
    model it names, preprocess photos by its card, run both."""
    from edgekit.data import default_photos
    from edgekit.export.artifact import Artifact
    from edgekit.pipeline import reload_source

    art = Artifact.load(Path(job["path"]))
    loaded = reload_source(art)
    images = default_photos(loaded.card.preprocess)
    images = images.subset(images.names[:2])
    from edgekit.runtime_bench.reference_engine import reference_engine

    out = reference_engine(loaded).run(images.arrays)
    if not all(math.isfinite(float(x)) for x in out.ravel()[:10]):
        return "non-finite reference"
    return "validated sidecar"


OPS = {"inspect": _inspect, "validate-file": _validate_file, "validate-sidecar": _validate_sidecar}


def serve() -> None:
    from edgekit.cli.common import os_error_line
    from edgekit.errors import EdgekitError

    channel = os.fdopen(os.dup(1), "w")  # the protocol's own copy of stdout; fd 1 itself goes to
    os.dup2(2, 1)  # stderr, where whatever the runtimes print cannot break a reply
    sys.stdout = sys.stderr
    for line in sys.stdin:
        job = json.loads(line)
        try:
            outcome, detail = "result", OPS[job["op"]](job)
        except EdgekitError as exc:
            outcome, detail = _one_line(exc)
        except OSError as exc:  # the CLI's handle_errors ends these in one line too
            outcome, detail = "error", os_error_line(exc)
        except Exception:  # noqa: BLE001 - what the fuzz is looking for
            outcome, detail = "traceback", traceback.format_exc()[-3000:]
        channel.write(json.dumps({"outcome": outcome, "detail": detail}) + "\n")
        channel.flush()


class Worker:
    """The worker process; ``run`` returns the outcome, "crash" when a native crash ended it."""

    def __init__(self) -> None:
        self.proc = None
        self.crashes = []

    def _start(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO / "tests")]),
                   TF_CPP_MIN_LOG_LEVEL="3")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve())], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)

    def run(self, job: dict, timeout: float = 120) -> dict:
        import select

        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if line:
            return json.loads(line)
        hung = self.proc.poll() is None
        if hung:
            self.proc.kill()
        rc = self.proc.wait()
        self.proc = None
        outcome = {"outcome": "hang" if hung else "crash", "detail": f"worker exit {rc}", "path": job["path"]}
        self.crashes.append(outcome)
        return outcome

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
            self.proc = None


if __name__ == "__main__":
    serve()
