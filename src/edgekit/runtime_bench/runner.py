"""edgekit runner: time one model file with one runtime. Standalone, single file.

Runs on the host (in a fresh process per file) and on devices (pushed next to the model).
Imports only the standard library, numpy and the runtime it uses -- never edgekit, torch
or (unless it is the last fallback for .tflite) tensorflow. Python >= 3.8. One file on
purpose (it is copied to devices as is), hence longer than edgekit's other modules.

    python runner.py --model PATH [--engine auto|litert|onnxruntime|openvino|executorch|ncnn]
        [--threads 1] [--warmup 1] [--warmup-seconds 0.5] [--min-runs 50] [--min-seconds 1]
        [--max-seconds 150] [--input-npy X.npy] [--output-npy Y.npy]
        [--precision-hint f32|bf16] [--seed 0] [--no-times] --json-out RESULT.json

Measurement: load (session/interpreter creation, allocation, compilation), one first
inference (timed alone), warm-up (at least --warmup runs AND --warmup-seconds), then timed
runs until at least --min-runs AND --min-seconds (stopping at --max-seconds whatever the
count, as TFLite's benchmark_model). One timed run = set the input, run, read the output,
timed with time.perf_counter around each run. Inputs are quantized (int8/uint8 models)
once, outside the timed loop. Defaults follow benchmark_model (50 runs, 1 s, warm-up 1
run / 0.5 s).

Result JSON (schema 1; keys are only ever added):
  {"schema": 1, "engine": "onnxruntime|litert|openvino|executorch|ncnn", "runtime": import name,
   "runtime_version", "model": path as given, "model_sha256", "file_size_bytes" (for .xml:
   .xml + .bin, .param + .bin), "threads", "precision_hint" (openvino: effective hint, ncnn: f32, else null),
   "load_ms", "first_inference_ms", "import_ms",
   "stats": {"runs", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "min_ms", "max_ms"},
   "warmup_runs", "peak_rss_mb" (peak resident set of this process, whole lifetime),
   "input": {"name", "shape", "dtype", "quantization": [scale, zero_point] | null,
             "source": "random|npy", "layout_converted": null | "NCHW->NHWC"},
   "host": {"machine", "cpu_model", "cores", "os", "python"},
   "timer": "python perf_counter loop", "times_ms": [every timed run] (unless --no-times),
   "outputs_written": N (with --output-npy)}
Percentiles are numpy's linear interpolation; std is the population std (ddof=0).
Errors: exit 2 (bad argument / file), 3 (runtime not installed), 4 (runtime failed), with
{"schema": 1, "error": message, "error_kind": "usage|missing_runtime|runtime"} in the
JSON file when --json-out is given, and the message on stderr.

--input-npy: float32 samples (N, ...) or one sample, in the model's layout or NCHW for an
NHWC model (transposed here). With --output-npy every sample is run once (untimed, before
the benchmark) and the float32 outputs (N, ...) are written there; int8 outputs are
dequantized. The benchmark itself feeds the first sample.

Serve mode (--serve; used by the host to interleave several files A B A B ..., each in
its own process): after load and warm-up a JSON line {"ready": true} goes to stdout; then
each stdin line "run SECONDS MAXRUNS" does one untimed run and timed runs for SECONDS
(at least 1, at most MAXRUNS) and answers {"times_ms": [...]}; "finish" writes the result
JSON (stats over all rounds) and answers {"done": true}. Library output meant for stdout
goes to stderr in this mode.
"""
import argparse
import hashlib
import json
import os
import platform
import re
import sys
import time

import numpy as np

SCHEMA = 1
TIMER = "python perf_counter loop"
EXIT_USAGE, EXIT_MISSING, EXIT_RUNTIME = 2, 3, 4
BACKENDS = {}  # engine -> backend class; edgekit's EngineSpec table (engines.py) names these


def one_line(exc, limit=600):
    """A runtime's message on one line, its cause kept (a copy of edgekit.errors.one_line)."""
    lines = [ln.strip().rstrip(":") for ln in str(exc).strip().splitlines() if ln.strip().rstrip(":")]
    kept = [ln for ln in lines if not re.match(r"Exception from \S+:\d+:?$", ln)] or lines
    out = "; ".join(kept) or type(exc).__name__
    return out if len(out) <= limit else out[: limit // 3] + " ... " + out[-(2 * limit // 3):]


class RunnerError(Exception):
    def __init__(self, message, kind="runtime"):
        super().__init__(message)
        self.kind = kind


def latency_stats(times_ms):
    t = np.asarray(times_ms, dtype=np.float64)
    if t.size == 0:
        raise RunnerError("no timed runs", "usage")
    p50, p90, p99 = np.percentile(t, [50, 90, 99])
    return {"runs": int(t.size), "p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99),
            "mean_ms": float(t.mean()), "std_ms": float(t.std()), "min_ms": float(t.min()),
            "max_ms": float(t.max())}


def openvino_config(threads, precision_hint="f32"):
    """CPU plugin properties. f32 must be explicit: on CPUs with AMX/AVX512-BF16 the plugin
    otherwise runs an fp32 model in bf16 (top-1 agreement with torch fell to 67% here)."""
    if precision_hint not in ("f32", "bf16"):
        raise RunnerError("--precision-hint must be f32 or bf16, not %r" % precision_hint, "usage")
    return {"INFERENCE_PRECISION_HINT": precision_hint, "INFERENCE_NUM_THREADS": int(threads),
            "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}


# ---- runtimes: each has name, shape, dtype, quant; prepare(float32 sample), run_once(), output() ----
# Class facts: the files it opens (the first suffix: its own; "--engine auto" picks it), its
# runtime modules with their pip names (best first), the edgekit extra that installs them.

def backend(cls):
    BACKENDS[cls.engine] = cls
    return cls


@backend
class LiteRTBackend:
    engine = "litert"
    suffixes = (".tflite",)
    runtimes = (("ai_edge_litert", "ai-edge-litert"), ("tflite_runtime", "tflite-runtime"),
                ("tensorflow", "tensorflow tensorflow-cpu tensorflow-aarch64"))
    extra = "tflite"

    def __init__(self, path, threads, precision_hint=None):
        Interpreter, self.runtime, self.runtime_version = _import_tflite()
        self.interp = Interpreter(model_path=path, num_threads=threads)
        self.interp.allocate_tensors()
        inp = self.interp.get_input_details()[0]
        out = self.interp.get_output_details()[0]
        self.in_index, self.out_index = inp["index"], out["index"]
        self.name, self.shape, self.dtype = inp["name"], [int(d) for d in inp["shape"]], inp["dtype"]
        self.quant = _quant(inp) if self.dtype in (np.int8, np.uint8, np.int16) else None
        self.out_quant = _quant(out) if out["dtype"] in (np.int8, np.uint8, np.int16) else None
        self.raw = None
        self.out = None

    def prepare(self, x):
        self.raw = np.ascontiguousarray(quantize(x, self.quant, self.dtype))

    def run_once(self):
        self.interp.set_tensor(self.in_index, self.raw)
        self.interp.invoke()
        self.out = self.interp.get_tensor(self.out_index)

    def output(self):
        return dequantize(self.out, self.out_quant)


@backend
class OnnxRuntimeBackend:
    engine = "onnxruntime"
    suffixes = (".onnx",)
    runtimes = (("onnxruntime", "onnxruntime"),)
    extra = "onnx"

    def __init__(self, path, threads, precision_hint=None):
        ort = _import("onnxruntime", "onnxruntime")
        self.runtime, self.runtime_version = "onnxruntime", ort.__version__
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.name = inp.name
        self.shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
        self.dtype = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8,
                      "tensor(float16)": np.float16}.get(inp.type, np.float32)
        self.quant = None  # ORT QDQ models keep float I/O
        self.feed = None
        self.out = None

    def prepare(self, x):
        self.feed = {self.name: np.ascontiguousarray(x.astype(self.dtype, copy=False))}

    def run_once(self):
        self.out = self.session.run(None, self.feed)

    def output(self):
        return np.asarray(self.out[0], dtype=np.float32)


@backend
class OpenVINOBackend:
    engine = "openvino"
    suffixes = (".xml", ".onnx")
    runtimes = (("openvino", "openvino"),)
    extra = "openvino"

    def __init__(self, path, threads, precision_hint="f32"):
        ov = _import("openvino", "openvino")
        self.ov = ov
        self.runtime, self.runtime_version = "openvino", ov.get_version()
        core = ov.Core()
        model = core.read_model(path)
        port = model.input(0)
        pshape = port.get_partial_shape()
        self.shape = [d.get_length() if d.is_static else 1 for d in pshape]
        if pshape.is_dynamic:  # benchmark and run batch 1 with a static shape
            model.reshape({port.get_any_name(): self.shape})
        self.name = port.get_any_name()
        self.dtype = np.dtype(port.get_element_type().to_dtype())
        self.quant = None  # NNCF int8 IR keeps float I/O (FakeQuantize inside)
        self.compiled = core.compile_model(model, "CPU", openvino_config(threads, precision_hint or "f32"))
        hint = self.compiled.get_property("INFERENCE_PRECISION_HINT")  # the effective one
        self.precision_hint = hint.to_string() if hasattr(hint, "to_string") else str(hint)
        self.request = self.compiled.create_infer_request()
        self.tensor = None
        self.out = None

    def prepare(self, x):
        self.tensor = self.ov.Tensor(np.ascontiguousarray(x.astype(self.dtype, copy=False)))

    def run_once(self):
        self.request.set_input_tensor(self.tensor)
        self.request.infer()
        self.out = self.request.get_output_tensor(0).data

    def output(self):
        return np.array(self.out, dtype=np.float32)


@backend
class ExecuTorchBackend:
    """ExecuTorch's Python runtime: its C++ runtime with the XNNPACK delegate, through pybindings that
    import torch themselves (torch is part of this runtime; the runner still imports only numpy)."""
    engine = "executorch"
    suffixes = (".pte",)
    runtimes = (("executorch.runtime", "executorch"),)
    extra = "executorch"
    _DTYPES = {6: np.float32, 1: np.int8, 0: np.uint8, 5: np.float16}  # ExecuTorch ScalarType codes

    def __init__(self, path, threads, precision_hint=None):
        import importlib

        runtime = _import("executorch.runtime", "executorch")
        pybind = importlib.import_module("executorch.extension.pybindings.portable_lib")
        self.runtime, self.runtime_version = "executorch", _dist_version("executorch")
        pybind._unsafe_reset_threadpool(int(threads))  # XNNPACK's pool; default is every core
        self.torch = sys.modules["torch"]
        program = runtime.Runtime.get().load_program(path)
        self.method = program.load_method("forward")
        meta = self.method.metadata.input_tensor_meta(0)
        self.name, self.shape = "input", [int(d) for d in meta.sizes()]
        self.dtype = self._DTYPES.get(int(meta.dtype()), np.float32)
        self.quant = None  # edgekit's int8 .pte files keep float I/O (quantize/dequantize inside)
        self.inputs = None
        self.out = None

    def prepare(self, x):
        self.inputs = [self.torch.from_numpy(np.ascontiguousarray(x.astype(self.dtype, copy=False)))]

    def run_once(self):
        self.out = self.method.execute(self.inputs)

    def output(self):
        return np.asarray(self.out[0].numpy(), dtype=np.float32)


@backend
class NcnnBackend:
    """ncnn's CPU path in fp32 arithmetic: fp16 and bf16 storage are switched off, so an fp16 file's
    weights are widened at load and an fp32 file computes in fp32 (ncnn would otherwise pick fp16
    storage where the CPU has it)."""
    engine = "ncnn"
    suffixes = (".param",)
    runtimes = (("ncnn", "ncnn"),)
    extra = "ncnn"

    def __init__(self, path, threads, precision_hint=None):
        ncnn = _import("ncnn", "ncnn")
        self.ncnn = ncnn
        self.runtime, self.runtime_version = "ncnn", getattr(ncnn, "__version__", _dist_version("ncnn"))
        self.net = ncnn.Net()
        opt = self.net.opt
        opt.num_threads = int(threads)
        opt.use_vulkan_compute = False
        for flag in ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage",
                     "use_bf16_packed"):
            if hasattr(opt, flag):
                setattr(opt, flag, False)
        self.precision_hint = "f32"  # effective: what the flags above leave (results and the database say it)
        if self.net.load_param(path) != 0 or self.net.load_model(path[:-len(".param")] + ".bin") != 0:
            raise RunnerError("ncnn cannot load %s (or its .bin weights beside it)" % path)
        self.name, self.out_name, self.shape = ncnn_io(path)
        self.dtype, self.quant = np.float32, None
        self.mat = None
        self.out = None

    def prepare(self, x):
        self.mat = self.ncnn.Mat(np.ascontiguousarray(x[0], dtype=np.float32))  # one CHW sample

    def run_once(self):
        ex = self.net.create_extractor()
        ex.input(self.name, self.mat)
        _, self.out = ex.extract(self.out_name)

    def output(self):
        return np.array(self.out, dtype=np.float32).reshape(1, -1)


def ncnn_io(path):
    """(input blob, output blob, input shape [1, C, H, W]) from an ncnn .param file: pnnx writes the
    input shape as the Input layer's 0=W 1=H 2=C; the output is the last layer's top blob."""
    with open(path) as f:
        lines = [ln.split() for ln in f.read().splitlines()[2:] if ln.strip()]
    if not lines or lines[0][0] != "Input":
        raise RunnerError("%s is not an ncnn .param with an Input layer first" % path, "usage")
    first, last = lines[0], lines[-1]
    dims = dict(kv.split("=", 1) for kv in first[5:] if "=" in kv)
    try:
        w, h, c = int(dims.get("0", 0)), int(dims.get("1", 0)), int(dims.get("2", 0))
    except ValueError:
        w = h = c = 0
    if not (w and h and c):
        raise RunnerError("%s does not record its input shape (Input layer 0=W 1=H 2=C); export it with pnnx "
                          "and an input shape" % path, "usage")
    n_in, n_out = int(last[2]), int(last[3])
    return first[4], last[4 + n_in + n_out - 1], [1, c, h, w]


def _import(module, engine):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise RunnerError("%s is not installed (%s); install it with: pip install 'edgekit[%s]'"
                          % (module, exc, BACKENDS[engine].extra), "missing_runtime")


def _import_tflite():
    """ai_edge_litert (numpy 2), then tflite_runtime (old Pi images), then tensorflow.lite."""
    try:
        from ai_edge_litert import interpreter as mod
        import ai_edge_litert
        return mod.Interpreter, "ai_edge_litert", getattr(ai_edge_litert, "__version__", _dist_version("ai-edge-litert"))
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter
        return Interpreter, "tflite_runtime", _dist_version("tflite-runtime")
    except ImportError:
        pass
    try:
        import tensorflow as tf
        return tf.lite.Interpreter, "tensorflow.lite", tf.__version__
    except ImportError:
        raise RunnerError("no TFLite runtime: install ai-edge-litert (pip install 'edgekit[tflite]')",
                          "missing_runtime")


def _dist_version(dist):
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:
        return None


def _quant(detail):
    scale, zero = detail.get("quantization", (0.0, 0))
    return [float(scale), int(zero)] if scale else None


def quantize(x, quant, dtype):
    """Float values -> the input's integer type with its (scale, zero point); unchanged for float inputs."""
    if quant is None:
        if np.issubdtype(np.dtype(dtype), np.integer) and np.issubdtype(x.dtype, np.floating):
            raise RunnerError("the model's input is %s without quantization parameters: float inputs cannot be "
                              "converted to it" % np.dtype(dtype).name, "usage")
        return x.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    q = np.round(x / quant[0]) + quant[1]  # as the host engines (tflite_engine._quantize): ties round alike
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(y, quant):
    if quant is None:
        return np.asarray(y, dtype=np.float32)
    return ((y.astype(np.float32) - quant[1]) * quant[0]).astype(np.float32)


# ---- inputs, host description, file facts ----

def load_inputs(npy_path, shape):
    """Return (samples (N, 1, *sample), layout_converted) from a .npy in the model's or NCHW layout."""
    try:
        arr = np.load(npy_path, allow_pickle=False).astype(np.float32)
    except (OSError, ValueError) as exc:
        raise RunnerError("cannot read %s as a .npy array (%s)" % (npy_path, exc), "usage")
    return model_layout(arr, shape, npy_path)


def model_layout(arr, shape, what="input"):
    """(samples (N, 1, *sample), layout_converted): float samples (N, ...) or one sample, in the
    model's layout or NCHW for an NHWC model (transposed here)."""
    want = tuple(shape)
    sample = want[1:]
    converted = None
    if len(want) == 4 and arr.shape[-3:] != sample and arr.shape[-3:] == (want[3], want[1], want[2]):
        arr, converted = np.moveaxis(arr, -3, -1), "NCHW->NHWC"
    if arr.shape == sample:
        arr = arr[None]
    if arr.ndim != len(want) or arr.shape[1:] != sample or len(arr) == 0:
        raise RunnerError("input %s has shape %s; the model takes %s" % (what, arr.shape, list(want)), "usage")
    return np.ascontiguousarray(arr[:, None]), converted


def random_input(shape, seed, dtype=np.float32, quant=None):
    """Normal noise; an integer input without quantization parameters gets integers of its range."""
    rng = np.random.default_rng(seed)
    if quant is None and np.issubdtype(np.dtype(dtype), np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
    return rng.standard_normal(shape).astype(np.float32)


def host_info():
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    # x86: "model name"; Raspberry Pi: "Model" (the board), "Hardware" (the SoC); x86's "model" is a number
    cpu = next((info[k] for k in ("model name", "Model", "Hardware", "cpu model") if info.get(k)), None)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return {"machine": platform.machine(), "cpu_model": cpu or platform.processor() or None, "cores": cores,
            "os": platform.platform(), "python": platform.python_version()}


def peak_rss_mb():
    """VmHWM of this process. Not getrusage's ru_maxrss: Linux carries that across exec, so a runner
    started from a big parent (fork, then exec) would report the parent's peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(kb / 1024.0 / (1024.0 if sys.platform == "darwin" else 1.0), 1)
    except ImportError:
        return None


def model_files(path):
    """The files a model consists of: an OpenVINO .xml or an ncnn .param has its weights in a .bin beside it."""
    files = [path]
    for suffix in (".xml", ".param"):
        if path.lower().endswith(suffix):
            files.append(path[:-len(suffix)] + ".bin")
    return [f for f in files if os.path.exists(f)]


def sha256_files(paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


# ---- measurement ----

def timed_runs(backend, min_runs, min_seconds, max_seconds, max_runs=None):
    """Time single runs until >= min_runs AND >= min_seconds (or max_seconds / max_runs)."""
    perf, run_once, times = time.perf_counter, backend.run_once, []
    start = perf()
    while True:
        t0 = perf()
        run_once()
        t1 = perf()
        times.append((t1 - t0) * 1e3)
        elapsed = t1 - start
        if (len(times) >= min_runs and elapsed >= min_seconds) or elapsed >= max_seconds \
                or (max_runs is not None and len(times) >= max_runs):
            return times


def open_backend(path, engine="auto", threads=1, precision_hint="f32"):
    """Check arguments, import the runtime and load the model; returns (backend, facts)."""
    if not os.path.isfile(path):
        raise RunnerError("model file not found: %s" % path, "usage")
    suffix = os.path.splitext(path)[1].lower()
    if engine == "auto":
        engine = next((name for name, b in BACKENDS.items() if b.suffixes[0] == suffix), None)
    if engine is None:
        raise RunnerError("unknown model file type '%s'; valid: %s"
                          % (suffix, ", ".join(b.suffixes[0] for b in BACKENDS.values())), "usage")
    suffixes = BACKENDS[engine].suffixes
    if suffix not in suffixes:
        raise RunnerError("engine %s cannot run %s files; it runs %s" % (engine, suffix, ", ".join(suffixes)), "usage")
    if threads < 1:
        raise RunnerError("--threads must be >= 1, got %d" % threads, "usage")
    hint = precision_hint if engine == "openvino" else None
    if hint is not None:
        openvino_config(threads, hint)  # validate before the slow part
    t0 = time.perf_counter()
    if engine == "litert":
        _import_tflite()
    else:
        _import(BACKENDS[engine].runtimes[0][0], engine)
    t1 = time.perf_counter()
    try:
        backend = BACKENDS[engine](path, threads, hint)
    except RunnerError:
        raise
    except Exception as exc:  # each runtime raises its own types for a bad file
        raise RunnerError(load_error(engine, path, exc), "runtime")
    t2 = time.perf_counter()
    return backend, {"engine": engine, "import_ms": (t1 - t0) * 1e3, "load_ms": (t2 - t1) * 1e3}


def prepare_inputs(backend, args):
    if args.input_npy:
        samples, converted = load_inputs(args.input_npy, backend.shape)
    else:
        samples, converted = random_input(backend.shape, args.seed, backend.dtype, backend.quant)[None], None
    info = {"name": backend.name, "shape": list(backend.shape), "dtype": np.dtype(backend.dtype).name,
            "quantization": backend.quant, "source": "npy" if args.input_npy else "random",
            "layout_converted": converted}
    return samples, info


def write_outputs(backend, samples, path):
    outs = []
    for s in samples:
        backend.prepare(s)
        backend.run_once()
        outs.append(backend.output())
    backend.prepare(samples[0])
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        np.save(f, np.concatenate(outs))
    os.replace(tmp, path)
    return len(outs)


def load_error(engine, path, exc):
    """One line on why a runtime refused a file; custom operators the runtime lacks are named."""
    text = str(exc)
    custom = sorted(set(re.findall(r"unresolved custom op: (\w+)", text, flags=re.I)))
    if custom:
        return ("%s uses custom operator(s) %s that this TFLite runtime does not provide; run it where those "
                "ops are registered (`edgekit inspect` lists them)" % (os.path.basename(path), ", ".join(custom)))
    return "%s cannot load %s: %s" % (engine, path, one_line(exc))


def _open_from_args(args):
    return open_backend(args.model, args.engine, args.threads, args.precision_hint)


def run_benchmark(args, serve_channel=None, opener=None):
    """opener(args) -> (backend, facts): open_backend here; edgekit's torch reference passes its own."""
    backend, facts = (opener or _open_from_args)(args)
    samples, input_info = prepare_inputs(backend, args)
    backend.prepare(samples[0])
    t0 = time.perf_counter()
    backend.run_once()
    first_ms = (time.perf_counter() - t0) * 1e3
    written = write_outputs(backend, samples, args.output_npy) if args.output_npy else None
    warm = []
    if args.warmup > 0 or args.warmup_seconds > 0:
        warm = timed_runs(backend, args.warmup, args.warmup_seconds, args.max_seconds)
    if serve_channel is None:
        times = timed_runs(backend, args.min_runs, args.min_seconds, args.max_seconds)
    else:
        times = serve_rounds(backend, serve_channel)
    files = facts.get("files", model_files(args.model))
    result = {
        "schema": SCHEMA, "engine": facts["engine"], "runtime": backend.runtime,
        "runtime_version": backend.runtime_version, "model": args.model,
        "model_sha256": sha256_files(files) if files else None,
        "file_size_bytes": sum(os.path.getsize(f) for f in files) if files else None,
        "threads": args.threads, "precision_hint": getattr(backend, "precision_hint", None),
        "load_ms": facts["load_ms"], "first_inference_ms": first_ms, "import_ms": facts["import_ms"],
        "stats": latency_stats(times), "warmup_runs": len(warm), "peak_rss_mb": peak_rss_mb(),
        "input": input_info, "host": host_info(), "timer": TIMER,
    }
    if not args.no_times:
        result["times_ms"] = [round(t, 4) for t in times]
    if written is not None:
        result["outputs_written"] = written
    return result


def serve_rounds(backend, channel):
    """Answer "run SECONDS MAXRUNS" lines until "finish" (or end of input)."""
    channel.send({"ready": True})
    times = []
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "finish":
            break
        if parts[0] != "run" or len(parts) != 3:
            raise RunnerError("serve: unknown command %r" % line.strip(), "usage")
        backend.run_once()  # untimed: re-warm caches after idling while other files ran
        chunk = timed_runs(backend, 1, float(parts[1]), float(parts[1]), int(parts[2]))
        times.extend(chunk)
        channel.send({"times_ms": chunk})
    return times


class _Channel:
    """The real stdout, kept for protocol lines; fd 1 itself is pointed at stderr."""

    def __init__(self):
        self.f = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)
        sys.stdout = sys.stderr

    def send(self, doc):
        self.f.write(json.dumps(doc) + "\n")
        self.f.flush()


def write_json(path, doc):
    text = json.dumps(doc, indent=1)
    if path in (None, "-"):
        sys.stdout.write(text + "\n")
        return
    tmp = path + ".part"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


def make_parser():
    p = argparse.ArgumentParser(description="Time one model file (see the module docstring).")
    p.add_argument("--model", required=True)
    p.add_argument("--engine", default="auto", choices=["auto"] + sorted(BACKENDS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=1, help="warm-up runs (at least)")
    p.add_argument("--warmup-seconds", type=float, default=0.5, help="warm-up seconds (at least)")
    p.add_argument("--min-runs", type=int, default=50)
    p.add_argument("--min-seconds", type=float, default=1.0)
    p.add_argument("--max-seconds", type=float, default=150.0)
    p.add_argument("--input-npy")
    p.add_argument("--output-npy")
    p.add_argument("--precision-hint", default="f32", help="openvino only: f32 (default) or bf16")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-times", action="store_true", help="leave the per-run times out of the JSON")
    p.add_argument("--serve", action="store_true", help="interleaving protocol on stdin/stdout")
    p.add_argument("--json-out", default="-")
    return p


def check_args(args):
    if args.min_runs < 1 or args.min_seconds < 0 or args.warmup < 0 or args.max_seconds <= 0:
        sys.stderr.write("runner error: --min-runs must be >= 1; --min-seconds, --warmup >= 0; --max-seconds > 0\n")
        sys.exit(EXIT_USAGE)


def main(argv=None, parser=None, opener=None):
    args = (parser or make_parser()).parse_args(argv)
    check_args(args)
    channel = _Channel() if args.serve else None
    try:
        result = run_benchmark(args, channel, opener)
    except Exception as exc:  # a runtime failing mid-run too: one line and the JSON contract
        if not isinstance(exc, RunnerError):
            exc = RunnerError("running %s failed: %s: %s" % (args.model, type(exc).__name__, one_line(exc)))
        code = {"usage": EXIT_USAGE, "missing_runtime": EXIT_MISSING}.get(exc.kind, EXIT_RUNTIME)
        sys.stderr.write("runner error: %s\n" % exc)
        if args.json_out not in (None, "-"):
            write_json(args.json_out, {"schema": SCHEMA, "error": str(exc), "error_kind": exc.kind})
        return code
    write_json(args.json_out, result)
    if channel is not None:
        channel.send({"done": True})
    return 0


if __name__ == "__main__":
    sys.exit(main())
