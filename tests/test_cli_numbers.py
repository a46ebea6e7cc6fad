"""Numbers on the command line (cli/params.py): every numeric flag of every command is checked
once, finite and in range, before any work, with the same rule wherever the flag appears; the
bounds that depend on the machine (threads <= cores) and on time (--max-seconds) hold too."""
from __future__ import annotations

import os
import time

import pytest

from bench_models import forever_onnx, processes_using
from conftest import assert_clean_error, run_cli

MODEL = ["mobilenet_v2", "--format", "onnx"]
# (command line before the flag, flag): every numeric flag the CLI has, with a command that takes it
NUMERIC_FLAGS = [
    (["export", *MODEL], "--input-size"), (["export", *MODEL], "--resize"), (["export", *MODEL], "--num-classes"),
    (["export", *MODEL], "--calib-samples"), (["summary", "mobilenet_v2"], "--input-size"),
    (["export", *MODEL, "--int8"], "--target-agreement"), (["export", *MODEL, "--int8"], "--max-slowdown"),
    (["run", *MODEL, "--int8"], "--target-agreement"), (["run", *MODEL, "--int8"], "--max-slowdown"),
    (["run", *MODEL], "--resize"), (["run", *MODEL], "--threads"), (["run", *MODEL], "--min-seconds"),
    (["bench", "m.onnx"], "--threads"), (["bench", "m.onnx"], "--min-runs"), (["bench", "m.onnx"], "--min-seconds"),
    (["bench", "m.onnx"], "--max-seconds"), (["bench", "m.onnx"], "--warmup"),
    (["bench", "m.onnx"], "--warmup-seconds"), (["bench", "m.onnx"], "--processes"),
    (["bench", "m.onnx", "--device", "local"], "--cooldown"),
    (["bench", "m.onnx", "--device", "adb://x"], "--adb-server-port"), (["devices", "adb://x"], "--adb-server-port"),
    (["validate", "m.onnx"], "--threads"), (["history"], "--limit"), (["compare"], "--threshold"),
    *[(["train", "mobilenet_v2", "--data", "."], f) for f in ("--epochs", "--lr", "--batch-size", "--input-size",
                                                              "--resize", "--val-fraction", "--seed", "--threads")],
    *[(["sweep", "--models", "mobilenet_v2", "--dry-run"], f) for f in ("--threads", "--input-size", "--min-runs",
                                                                        "--processes", "--num-cpus")],
]
LOW_OPEN = ("--max-seconds", "--lr", "--val-fraction", "--target-agreement")  # "> 0": 0 itself is refused
TRIPLES = [(["export", *MODEL], "--mean"), (["export", *MODEL], "--std"), (["summary", "mobilenet_v2"], "--std")]


def _refused(tmp_path, args, flag, value, *needles):
    out = tmp_path / "out"
    args = [a if a != "m.onnx" else str(tmp_path / "m.onnx") for a in args]
    if args[0] in ("export", "run"):
        args += ["--out", str(out)]
    proc = run_cli(*args, flag, value, cwd=tmp_path, timeout=120)
    line = assert_clean_error(proc, flag, *needles)
    assert not out.exists() and sorted(os.listdir(tmp_path)) == [], os.listdir(tmp_path)  # no work done
    return line


@pytest.mark.parametrize("args, flag", NUMERIC_FLAGS + TRIPLES, ids=lambda v: v if isinstance(v, str) else v[0])
@pytest.mark.parametrize("value", ["nan", "1e999"])
def test_numbers_that_are_not_finite(tmp_path, args, flag, value):
    _refused(tmp_path, args, flag, value if (args, flag) not in TRIPLES else f"{value},1,1", "takes")


@pytest.mark.parametrize("args, flag", NUMERIC_FLAGS, ids=lambda v: v if isinstance(v, str) else v[0])
@pytest.mark.parametrize("value", ["0", "-3", "100000000"])
def test_numbers_out_of_range_or_not_numbers(tmp_path, args, flag, value):
    if value == "0" and flag in ("--min-seconds", "--warmup", "--warmup-seconds", "--cooldown", "--threshold",
                                 "--seed") or (flag == "--seed" and value == "100000000"):
        return  # valid values of these
    _refused(tmp_path, args, flag, value, "takes", "> 0" if flag in LOW_OPEN else "from")


@pytest.mark.parametrize("args, flag, value", [
    (["bench", "m.onnx"], "--threads", "1,,2"), (["bench", "m.onnx"], "--threads", "1,1"),
    (["bench", "m.onnx"], "--threads", "-inf"), (["export", *MODEL], "--std", "inf"),
    (["bench", "m.onnx"], "--threads", "1, 2x"), (["run", *MODEL], "--threads", ","),
    (["export", *MODEL], "--mean", "1,2"), (["export", *MODEL], "--std", "1,2,3,4"),
    (["export", *MODEL], "--std", "128,0,128"), (["export", *MODEL], "--mean", "300"),
])
def test_malformed_lists(tmp_path, args, flag, value):
    _refused(tmp_path, args, flag, value, "comma-separated")


@pytest.mark.parametrize("value", ["0", "seven", "2.5"])
def test_the_same_flag_has_the_same_rule_in_every_command(tmp_path, value):
    from edgekit.cli.params import THREADS

    for args in (["bench", "m.onnx"], ["validate", "m.onnx"], ["run", *MODEL]):
        _refused(tmp_path, args, "--threads", value, THREADS.describe())


def test_triple_from_one_value_and_valid_numbers_still_pass():
    from edgekit.cli import params

    assert params.MEAN.convert("127", None, None) == (127.0, 127.0, 127.0)
    assert params.THREAD_LIST.convert("1,2", None, None) == (1, 2)
    assert params.GATE.convert("5%", None, None) == pytest.approx(0.05)
    assert params.SECONDS.convert("0", None, None) == 0.0


def test_more_threads_than_cores_refused_where_they_would_run(tmp_path_factory, tmp_path):
    from bench_models import relu_onnx

    from edgekit.runtime_bench.config import host_cores

    model = str(relu_onnx(tmp_path_factory.mktemp("model")))  # an existing file: the check comes after parsing
    over = str(host_cores() + 1)
    for args in (["bench", model], ["validate", model], ["run", *MODEL]):
        line = _refused(tmp_path, args, "--threads", over, f"more than the {host_cores()} cores")
        assert f"1-{host_cores()}" in line


def test_more_threads_than_the_device_has_refused(tmp_path):
    from bench_models import relu_onnx

    from edgekit.runtime_bench.config import host_cores

    proc = run_cli("bench", relu_onnx(tmp_path), "--device", "local", "--threads", str(host_cores() + 1),
                   "--no-record")
    assert_clean_error(proc, f"more than the {host_cores()} cores local can use")


@pytest.mark.parametrize("files", [1, 2])
def test_bench_past_its_limit_is_stopped_and_its_processes_reaped(tmp_path, files):
    """One file (a single runner) and two (interleaved, served runners): --max-seconds 1 bounds
    each phase, so a model that never finishes an inference is stopped within ~4 s + slack."""
    from edgekit.runtime_bench.measure import STARTUP_SLACK_S

    paths = [forever_onnx(tmp_path / f"forever{i}.onnx") for i in range(files)]
    start = time.monotonic()
    proc = run_cli("bench", *paths, "--max-seconds", "1", "--processes", "1", "--no-record", timeout=180)
    took = time.monotonic() - start
    assert_clean_error(proc, "passed its limit", "--max-seconds 1", "its process was stopped")
    assert took < 4 + STARTUP_SLACK_S + 30, took
    assert not any(processes_using(p) for p in paths)
