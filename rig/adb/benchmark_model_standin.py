#!/opt/venv/bin/python3
"""STAND-IN for TensorFlow Lite's ``benchmark_model`` binary -- edgekit test rig only.

The real tool is a native Android/Linux binary that is in no package registry and needs the
NDK to build, so the rig cannot run it.  This script takes the same command line, really runs
the .tflite file (ai_edge_litert's Interpreter, in the arm64 root under qemu-user), and prints
its report in benchmark_model's own format (BenchmarkModel::Run, BenchmarkLoggingListener and
Stat::OutputToStream in tensorflow/lite/tools/benchmark), e.g.

    INFO: count=50 first=21135 curr=21046 min=20899 max=22456 avg=21187.7 std=270
    INFO: Inference timings in us: Init: 52123, First inference: 29430, Warmup (avg): 21571.3, Inference (avg): 21187.7
    INFO: Memory footprint delta from the start of the tool (MB): init=12.3164 overall=18.8477
    INFO: Overall peak memory footprint (MB) via periodic monitoring: 20.1289

so edgekit's push -> run -> parse path can be tested end to end.  It uses the plain Interpreter
on purpose: ai-edge-litert's own `litert-benchmark` dies on cortex-a72 (it needs ARMv8.1 LSE
atomics), and tflite-runtime 2.14 cannot create an Interpreter under numpy 2 (DEVICES.md).  It proves parsing and
orchestration, never speed: the numbers are Python-loop timings of emulated code, and the
memory figures include the emulator.  It also prints one extra line saying it is a stand-in.

Push it as the binary (it is executable, with a /opt/venv/bin/python3 shebang):
    adb push rig/adb/benchmark_model_standin.py /data/local/tmp/benchmark_model
    adb shell /data/local/tmp/benchmark_model --graph=/data/local/tmp/m.tflite --num_runs=5

Unlike the real tool, unknown flags are an error (to catch typos in edgekit's command lines).
"""

from __future__ import annotations

import math
import os
import resource
import sys
import threading
import time

# flag -> (type, default, label printed by LogParams when set)
FLAGS = {
    "graph": (str, "", "Graph"),
    "num_runs": (int, 50, "Min num runs"),
    "min_secs": (float, 1.0, "Min runs duration (seconds)"),
    "max_secs": (float, 150.0, "Max runs duration (seconds)"),
    "run_delay": (float, -1.0, "Inter-run delay (seconds)"),
    "num_threads": (int, -1, "Num threads"),
    "warmup_runs": (int, 1, "Min warmup runs"),
    "warmup_min_secs": (float, 0.5, "Min warmup runs duration (seconds)"),
    "verbose": (bool, False, None),
    "report_peak_memory_footprint": (bool, False, "Report the peak memory footprint"),
    "memory_footprint_check_interval_ms": (int, 50, "Memory footprint check interval (ms)"),
    "use_xnnpack": (bool, True, "Use xnnpack"),
    # Accepted and ignored, so realistic command lines work; delegates other than XNNPACK
    # cannot be emulated and are refused if switched on.
    "enable_op_profiling": (bool, False, None),
    "benchmark_name": (str, "", "Benchmark name"),
    "output_prefix": (str, "", "Output prefix"),
    "use_gpu": (bool, False, None),
    "use_nnapi": (bool, False, None),
    "use_hexagon": (bool, False, None),
}


def info(msg: str) -> None:
    print(f"INFO: {msg}", flush=True)


def error(msg: str) -> None:
    print(f"ERROR: {msg}", file=sys.stderr, flush=True)


def g(x: float) -> str:
    """C++ ostream's default formatting of a double (6 significant digits, like %g)."""
    return "nan" if math.isnan(x) else f"{x:g}"


def parse_flags(argv: list[str]) -> tuple[dict, set]:
    values = {name: default for name, (_t, default, _l) in FLAGS.items()}
    given: set[str] = set()
    for arg in argv:
        if not arg.startswith("--"):
            raise ValueError(f"unexpected argument {arg!r} (flags are --name=value)")
        name, eq, text = arg[2:].partition("=")
        if name == "help":
            raise ValueError("usage: benchmark_model --graph=FILE [--num_threads=N] "
                             "[--warmup_runs=N] [--num_runs=N] [--use_xnnpack=true|false] "
                             "[--report_peak_memory_footprint=true|false] ...")
        if name not in FLAGS:
            raise ValueError(f"stand-in does not know the flag --{name}")
        kind = FLAGS[name][0]
        if kind is bool:
            if not eq or text.lower() in ("true", "1"):
                values[name] = True
            elif text.lower() in ("false", "0"):
                values[name] = False
            else:
                raise ValueError(f"--{name} wants true or false, got {text!r}")
        else:
            try:
                values[name] = kind(text)
            except ValueError:
                raise ValueError(f"--{name} wants a {kind.__name__}, got {text!r}") from None
        given.add(name)
    for name in ("use_gpu", "use_nnapi", "use_hexagon"):
        if values[name]:
            raise ValueError(f"--{name}=true cannot be emulated by the stand-in")
    return values, given


class Stat:
    """tensorflow::Stat<int64_t>: first/curr/min/max/avg and the population std, truncated."""

    def __init__(self) -> None:
        self.values: list[int] = []

    def add(self, v: int) -> None:
        self.values.append(v)

    def avg(self) -> float:
        return sum(self.values) / len(self.values) if self.values else float("nan")

    def first(self) -> int:
        return self.values[0] if self.values else 0

    def __str__(self) -> str:
        v = self.values
        if not v:
            return "count=0"
        if min(v) == max(v):
            return f"count={len(v)} curr={v[-1]}" + ("(all same)" if len(v) > 1 else "")
        mean = self.avg()
        var = sum(x * x for x in v) / len(v) - mean * mean
        std = int(math.sqrt(max(var, 0.0)))
        return (f"count={len(v)} first={v[0]} curr={v[-1]} min={min(v)} max={max(v)} "
                f"avg={g(mean)} std={std}")


def max_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux


class PeakMemoryMonitor(threading.Thread):
    def __init__(self, interval_ms: int) -> None:
        super().__init__(daemon=True)
        self.interval = max(interval_ms, 1) / 1000.0
        self.peak_kb = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.peak_kb = max(self.peak_kb, max_rss_kb())
            self.stop_event.wait(self.interval)

    def stop(self) -> float:
        self.stop_event.set()
        self.join()
        return max(self.peak_kb, max_rss_kb()) / 1024.0


def run_loop(invoke, min_runs: int, min_secs: float, max_secs: float, delay: float) -> Stat:
    info(f"Running benchmark for at least {min_runs} iterations and at least {g(min_secs)} "
         f"seconds but terminate if exceeding {g(max_secs)} seconds.")
    stats = Stat()
    now = time.monotonic()
    min_finish, max_finish = now + min_secs, now + max_secs
    run = 0
    while (run < min_runs or now < min_finish) and now <= max_finish:
        start = time.perf_counter_ns()
        invoke()
        stats.add((time.perf_counter_ns() - start) // 1000)
        if delay > 0:
            time.sleep(delay)
        now = time.monotonic()
        run += 1
    print(f"INFO: {stats}\n", flush=True)  # the real tool ends this line with an extra endl
    return stats


def random_input(detail, np):
    shape, dtype = detail["shape"], detail["dtype"]
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.floating):
        return rng.random(shape, dtype=np.float32).astype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    info_ = np.iinfo(dtype)
    return rng.integers(max(info_.min, -128), min(info_.max, 255) + 1, shape).astype(dtype)


def main(argv: list[str]) -> int:
    try:
        flags, given = parse_flags(argv)
    except ValueError as exc:
        error(str(exc))
        return 1
    info("STARTING!")
    info("edgekit STAND-IN for benchmark_model: ai_edge_litert Interpreter timed from Python "
         "under emulation; not the native tool, not a phone's speed.")
    info(f"Log parameter values verbosely: [{int(flags['verbose'])}]")
    for name in FLAGS:
        label = FLAGS[name][2]
        if label and (name in given or flags["verbose"]):
            v = flags[name]
            text = str(int(v)) if isinstance(v, bool) else g(v) if isinstance(v, float) else str(v)
            info(f"{label}: [{text}]")
    graph = flags["graph"]
    if not graph:
        error("Please specify the name of your TF Lite input file with --graph")
        return 1
    if not os.path.isfile(graph):
        error(f"Could not open '{graph}'.")
        error(f"Failed to mmap model {graph}")
        return 1

    monitor = None
    if flags["report_peak_memory_footprint"]:
        monitor = PeakMemoryMonitor(flags["memory_footprint_check_interval_ms"])
        monitor.start()
    import numpy as np  # imported before the clock starts: the native tool has no such cost
    from ai_edge_litert import interpreter as litert

    start_kb = max_rss_kb()
    t0 = time.perf_counter_ns()

    kwargs = {}
    if flags["num_threads"] > 0:
        kwargs["num_threads"] = flags["num_threads"]
    if "use_xnnpack" in given and not flags["use_xnnpack"]:
        kwargs["experimental_op_resolver_type"] = \
            litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        interp = litert.Interpreter(model_path=graph, **kwargs)
        interp.allocate_tensors()
    except Exception as exc:  # the real tool also just reports and fails
        error(f"Failed to construct interpreter: {exc}")
        return 1
    info(f"Loaded model {graph}")
    init_us = (time.perf_counter_ns() - t0) // 1000
    init_kb = max_rss_kb() - start_kb
    threads = flags["num_threads"] if flags["num_threads"] > 0 else -1
    info(f"#threads used for CPU inference: [{threads}]")
    info(f"The input model file size (MB): {g(os.path.getsize(graph) / 1e6)}")
    info(f"Initialized session in {g(init_us / 1e3)}ms.")

    for detail in interp.get_input_details():
        interp.set_tensor(detail["index"], random_input(detail, np))
    delay = flags["run_delay"]
    warm = run_loop(interp.invoke, flags["warmup_runs"], flags["warmup_min_secs"],
                    flags["max_secs"], delay)
    infer = run_loop(interp.invoke, flags["num_runs"], flags["min_secs"], flags["max_secs"], delay)
    overall_kb = max_rss_kb() - start_kb

    info(f"Inference timings in us: Init: {init_us}, First inference: {warm.first()}, "
         f"Warmup (avg): {g(warm.avg())}, Inference (avg): {g(infer.avg())}")
    info("Note: as the benchmark tool itself affects memory footprint, the following is only "
         "APPROXIMATE to the actual memory footprint of the model at runtime. Take the "
         "information at your discretion.")
    info(f"Memory footprint delta from the start of the tool (MB): init={g(init_kb / 1024.0)} "
         f"overall={g(overall_kb / 1024.0)}")
    if monitor is not None:
        peak = monitor.stop()
        if peak > 0:
            info(f"Overall peak memory footprint (MB) via periodic monitoring: {g(peak)}")
            page = os.sysconf("SC_PAGE_SIZE")
            with open("/proc/self/statm") as f:
                _vsize, rss, shared = (int(x) * page >> 20 for x in f.read().split()[:3])
            info("Memory status at the end of exeution:")  # sic, as in the real tool
            info(f"- VmRSS              : {rss} MB")
            info(f"+ RssAnnon           : {rss - shared} MB")
            info(f"+ RssFile + RssShmem : {shared} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
