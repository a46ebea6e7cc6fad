"""Does edgekit's harness change what it measures? Its median vs a bare loop over the same
engine and file, and the spread of its median over 5 repeats, at 1 thread.

    PYTHONPATH=src python benchmarks/bench_harness_overhead.py [--out DIR] [--repeats 5] [--min-seconds 2]
        [--processes 3] [--interleaved]

For each MobileNetV2 fp32 and int8 file (every installed format): each repeat runs edgekit's
measurement (runner.py in --processes fresh processes, runs pooled, as `edgekit bench` does)
and a bare loop (a few lines of the runtime's own API, in as many fresh processes, same
thread count, same warm-up, same number of runs, times pooled), alternating which goes first.
Reported: median of edgekit/bare median ratios (goal: within 3%), and the spread (max-min)/median of edgekit's 5 medians (goal: <= 5%). Exit 1 if a goal is missed.
With --interleaved, edgekit's runner and the bare loop stay alive together and run in
alternating 0.1 s rounds, so a machine shared with other work slows both alike (the ratio
stays meaningful; the spread over repeats still shows the machine's drift).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _mobilenet_files import mobilenet_files

BARE = r"""
import json, sys, time, numpy as np
path, engine, runs, warm = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
if engine == "onnxruntime":
    import onnxruntime as ort
    o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.inter_op_num_threads = 1
    s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
    i = s.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal([d if isinstance(d, int) else 1 for d in i.shape]).astype(np.float32)
    feed = {i.name: x}
    step = lambda: s.run(None, feed)
elif engine == "litert":
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=path, num_threads=1); it.allocate_tensors()
    d, o = it.get_input_details()[0], it.get_output_details()[0]
    x = np.random.default_rng(0).standard_normal(d["shape"]).astype(np.float32)
    if d["dtype"] != np.float32:
        sc, zp = d["quantization"]
        x = np.clip(np.round(x / sc + zp), -128, 127).astype(d["dtype"])
    def step():
        it.set_tensor(d["index"], x); it.invoke(); it.get_tensor(o["index"])
else:
    import openvino as ov
    core = ov.Core(); m = core.read_model(path); m.reshape([1, 3, 224, 224])
    c = core.compile_model(m, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1,
                                      "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1})
    r = c.create_infer_request()
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    step = lambda: r.infer({0: x})
t_end = time.perf_counter() + warm
while time.perf_counter() < t_end:
    step()
if runs > 0:
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter(); step(); ts.append(time.perf_counter() - t0)
    print(json.dumps({"times_ms": [t * 1e3 for t in ts]}))
else:  # the runner's --serve protocol, so both can be driven in alternating rounds
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.startswith("finish"):
            break
        secs = float(line.split()[1]); step(); ts = []; t_end = time.perf_counter() + secs
        while not ts or time.perf_counter() < t_end:
            t0 = time.perf_counter(); step(); ts.append((time.perf_counter() - t0) * 1e3)
        print(json.dumps({"times_ms": ts}), flush=True)
"""
ENGINE = {"onnx": "onnxruntime", "tflite": "litert", "openvino": "openvino"}


def bare(path: Path, engine: str, runs: int, warm: float, processes: int) -> float:
    """p50 over the times of `processes` fresh bare-loop processes, `runs` runs in all."""
    times = []
    for _ in range(processes):
        out = subprocess.run([sys.executable, "-c", BARE, str(path), engine, str(-(-runs // processes)), str(warm)],
                             capture_output=True, text=True, check=True)
        times += json.loads(out.stdout.strip().splitlines()[-1])["times_ms"]
    return statistics.median(times)


def interleaved(path: Path, engine: str, seconds: float, warm: float, processes: int) -> tuple[float, float]:
    """edgekit's runner (--serve) and the bare loop alive at once, in alternating 0.1 s rounds, in
    `processes` waves of seconds/processes each: load on a shared machine hits both alike.
    Returns (edgekit p50: its waves' JSONs pooled by edgekit's pool(), bare p50 over its pooled times)."""
    import tempfile

    from edgekit.runtime_bench.command import RUNNER
    from edgekit.runtime_bench.pool import pool

    results, bare_times = [], []
    for wave in range(processes):
        with tempfile.TemporaryDirectory() as td:
            out = Path(td) / "r.json"
            ek = subprocess.Popen([sys.executable, str(RUNNER), "--model", str(path), "--threads", "1",
                                   "--warmup-seconds", str(warm), "--serve", "--json-out", str(out)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            br = subprocess.Popen([sys.executable, "-c", BARE, str(path), engine, "0", str(warm)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for p in (ek, br):
                assert json.loads(p.stdout.readline()) == {"ready": True}
            spent = 0.0
            while spent < seconds / processes:
                for p in (ek, br):
                    p.stdin.write("run 0.1 1000000\n")
                    p.stdin.flush()
                    chunk = json.loads(p.stdout.readline())["times_ms"]
                    if p is br:
                        bare_times += chunk
                        spent += sum(chunk) / 1e3
            for p in (ek, br):
                p.stdin.write("finish\n")
                p.stdin.flush()
            ek.stdout.readline()
            ek.wait()
            br.wait()
            results.append(json.loads(out.read_text()))
    return pool(results)["stats"]["p50_ms"], statistics.median(bare_times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("edgekit-out/bench-mobilenet_v2"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--min-seconds", type=float, default=2.0)
    ap.add_argument("--min-runs", type=int, default=50)
    ap.add_argument("--processes", type=int, default=3, help="fresh processes per measurement (edgekit's default: 3)")
    ap.add_argument("--formats", help="comma-separated subset of onnx,tflite,openvino (default: all installed)")
    ap.add_argument("--interleaved", action="store_true",
                    help="edgekit and the bare loop in alternating rounds (fair on a loaded machine)")
    args = ap.parse_args()

    from edgekit.runtime_bench.config import BenchConfig
    from edgekit.runtime_bench.measure import measure, plan

    cfg = BenchConfig(threads=(1,), min_runs=args.min_runs, min_seconds=args.min_seconds, warmup_seconds=0.5,
                      processes=args.processes)
    ok = True
    print(f"load average at start: {os.getloadavg()[0]:.2f}; {args.processes} process(es) per measurement")
    formats = args.formats.split(",") if args.formats else None
    for (fmt, precision), path in mobilenet_files(args.out, formats).items():
        job = plan([path], cfg)
        ek, br, ratios = [], [], []
        runs = args.min_runs  # replaced by edgekit's own run count (repeat 1 measures edgekit first)
        for i in range(args.repeats):
            order = ("edgekit", "bare") if i % 2 == 0 else ("bare", "edgekit")
            got = {}
            if args.interleaved:
                got["edgekit"], got["bare"] = interleaved(path, ENGINE[fmt], args.min_seconds, 0.5, args.processes)
                order = ()
            for who in order:
                if who == "edgekit":
                    r = measure(job, cfg)[0]
                    got[who], runs = r["stats"]["p50_ms"], r["stats"]["runs"]
                else:  # as many runs as edgekit's loop took
                    got[who] = bare(path, ENGINE[fmt], runs, 0.5, args.processes)
            ek.append(got["edgekit"])
            br.append(got["bare"])
            ratios.append(got["edgekit"] / got["bare"])
        ratio = statistics.median(ratios)
        spread = (max(ek) - min(ek)) / statistics.median(ek)
        bare_spread = (max(br) - min(br)) / statistics.median(br)  # the machine's own drift
        good = abs(ratio - 1) <= 0.03 and spread <= 0.05
        ok &= good
        print(f"{path.name:28s} edgekit p50 {statistics.median(ek):6.3f} ms, bare {statistics.median(br):6.3f} ms, "
              f"ratio {ratio:.3f} (per repeat {', '.join(f'{x:.3f}' for x in ratios)}), "
              f"edgekit spread over {args.repeats} repeats {100 * spread:.1f}% (medians {', '.join(f'{x:.3f}' for x in ek)}; "
              f"bare loop {100 * bare_spread:.1f}%) "
              f"{'ok' if good else 'MISSED'}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
