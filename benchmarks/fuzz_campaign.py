"""Fuzz campaign: N mutants per format through `inspect` and `validate`, and mutated sidecars,
counted by outcome (issue 14: at least 2,000 per format, 0 tracebacks, 0 crashes of edgekit).

    python benchmarks/fuzz_campaign.py --mutants 2000 [--seeds DIR] [--bench 50] [--out DIR] [--only onnx ...]

Seeds: mobilenet_v1_0_25 exported fp32 + int8 to .onnx, .tflite and OpenVINO .xml/.bin (small
files: more mutations land in structure than in weights), made with `edgekit export` if DIR
lacks them. Each mutant goes to the worker of tests/fuzz_support.py, which runs the code the
CLI runs (the child's and the parent's halves); a native crash ends the worker and is counted
as "contained" (the CLI runs that code in a child process, so edgekit would report it in one
line: tests/test_fuzz.py checks that path end to end). --bench N also runs N mutants per
format through the real `edgekit bench` CLI.

Outcomes: result (a report), error (one clean line), traceback (a bug: printed in full),
contained crash or hang (the parser/runtime died on the file). Prints one table and a JSON
summary; mutants behind tracebacks and crashes are kept in OUT for replay.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

from fuzz_support import Worker, mutate_bytes, mutate_sidecar  # noqa: E402

SEED_MODEL = "mobilenet_v1_0_25"
FORMATS = {"onnx": ".onnx", "tflite": ".tflite", "openvino": ".xml"}


def seeds(folder: Path) -> dict[str, list[Path]]:
    want = {fmt: [folder / f"{SEED_MODEL}_{p}{ext}" for p in ("fp32", "int8")] for fmt, ext in FORMATS.items()}
    if not all(p.is_file() for ps in want.values() for p in ps):
        argv = [sys.executable, "-m", "edgekit.cli.main", "export", SEED_MODEL, "--int8", "--no-record",
                "--out", str(folder)] + [a for f in FORMATS for a in ("--format", f)]
        subprocess.run(argv, check=True, env={**__import__("os").environ, "PYTHONPATH": str(REPO / "src")})
    return want


def _mutant_file(seed: Path, work: Path, i: int, rng: random.Random, target: str) -> Path:
    """A mutant next to intact companions: the model bytes (or, for .xml, the .xml or its .bin)."""
    d = work / f"m{i % 64}"
    d.mkdir(exist_ok=True)
    dst = d / seed.name
    for f in d.iterdir():
        f.unlink()
    companions = [seed.with_suffix(".bin")] if seed.suffix == ".xml" else []
    for c in companions:
        (d / c.name).write_bytes(c.read_bytes())
    sidecar = seed.with_name(seed.name + ".edgekit.json")
    if target == "sidecar":
        dst.write_bytes(seed.read_bytes())
        (d / sidecar.name).write_text(mutate_sidecar(sidecar.read_text(), rng))
        return dst
    (d / sidecar.name).write_text(sidecar.read_text())
    victim = companions[0] if companions and rng.random() < 0.5 else seed
    data = mutate_bytes(victim.read_bytes(), rng)
    (d / victim.name).write_bytes(data)
    if victim is not seed:
        dst.write_bytes(seed.read_bytes())
    return dst


def _kind(message: str) -> str:
    text = re.sub(r"'[^']*'|/\S+", "_", message)
    return re.sub(r"\d+", "N", text)[:110]


def _bench_cli(path: Path) -> str:
    argv = [sys.executable, "-m", "edgekit.cli.main", "bench", str(path), "--min-runs", "2", "--min-seconds", "0",
            "--warmup-seconds", "0", "--processes", "1", "--max-seconds", "20", "--no-record"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "PYTHONPATH": str(REPO / "src")})
    if "Traceback" in p.stderr or p.returncode < 0:
        return "traceback"
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    return "result" if p.returncode == 0 else "error" if len(errors) == 1 else "traceback"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mutants", type=int, default=2000, help="per format and command")
    ap.add_argument("--sidecars", type=int, default=None, help="mutated sidecars (default: --mutants)")
    ap.add_argument("--bench", type=int, default=0, help="mutants per format through `edgekit bench` (slow)")
    ap.add_argument("--seeds", type=Path, default=REPO / "benchmarks" / ".fuzz-seeds")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / ".fuzz-out")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--only", nargs="*", help="formats to run (onnx tflite openvino sidecar); default: all")
    args = ap.parse_args()
    args.seeds.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    files = seeds(args.seeds)
    rng = random.Random(args.seed)
    worker = Worker()
    counts: dict[tuple[str, str], Counter] = {}
    kinds: Counter = Counter()  # what the clean lines say, paths and numbers blanked
    bugs = []
    start = time.monotonic()
    plan = [(fmt, op) for fmt in FORMATS for op in ("inspect", "validate-file")]
    plan += [("sidecar", "validate-sidecar")]
    plan = [(fmt, op) for fmt, op in plan if not args.only or fmt in args.only]
    work = args.out / "mutants"
    work.mkdir(exist_ok=True)
    for fmt, op in plan:
        n = args.sidecars if op == "validate-sidecar" and args.sidecars is not None else args.mutants
        c = counts.setdefault((fmt, op), Counter())
        pool = files[fmt] if fmt in files else [p for ps in files.values() for p in ps]
        for i in range(n):
            seed = pool[i % len(pool)]
            path = _mutant_file(seed, work, i, rng, "sidecar" if op == "validate-sidecar" else "model")
            job = {"op": op, "path": str(path), "seed": str(seed)}
            r = worker.run(job)
            c[r["outcome"]] += 1
            if r["outcome"] == "error":
                kinds[_kind(r["detail"])] += 1
            if r["outcome"] not in ("result", "error"):
                keep = args.out / f"{r['outcome']}-{fmt}-{op}-{i}"
                keep.mkdir(exist_ok=True)
                for f in path.parent.iterdir():
                    (keep / f.name).write_bytes(f.read_bytes())
                bugs.append({"format": fmt, "op": op, "i": i, "outcome": r["outcome"], "kept": str(keep),
                             "detail": r["detail"][-1500:]})
            if (i + 1) % 250 == 0:
                print(f"{fmt} {op}: {i + 1}/{n} {dict(c)} ({time.monotonic() - start:.0f} s)", file=sys.stderr)
    if args.bench:
        for fmt in [f for f in FORMATS if not args.only or f in args.only]:
            c = counts.setdefault((fmt, "bench (CLI)"), Counter())
            for i in range(args.bench):
                path = _mutant_file(files[fmt][i % 2], work, i, rng, "model")
                c[_bench_cli(path)] += 1
    worker.close()
    print(f"\n{'format':<9} {'command':<18} {'mutants':>8} {'result':>7} {'error':>7} {'traceback':>9} "
          f"{'crash':>6} {'hang':>5}")
    for (fmt, op), c in counts.items():
        print(f"{fmt:<9} {op:<18} {sum(c.values()):>8} {c['result']:>7} {c['error']:>7} {c['traceback']:>9} "
              f"{c['crash']:>6} {c['hang']:>5}")
    print("\nmost frequent error lines (paths and numbers blanked):")
    for k, n in kinds.most_common(15):
        print(f"{n:>6}  {k}")
    for b in bugs:
        print(f"\n--- {b['outcome']} {b['format']} {b['op']} #{b['i']} (kept in {b['kept']})\n{b['detail']}")
    summary = {"seconds": round(time.monotonic() - start), "seed": args.seed,
               "counts": {f"{fmt}/{op}": dict(c) for (fmt, op), c in counts.items()}}
    print("\n" + json.dumps(summary))
    return 1 if any(b["outcome"] == "traceback" for b in bugs) else 0


if __name__ == "__main__":
    sys.exit(main())
