"""A failed export never replaces good files, and NaN/inf is refused where it enters.

Files in --out are compared by bytes, inode and mtime: a run that replaced a file with an
identical copy would still be caught (os.replace gives the final name a new inode).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import assert_clean_error, run_cli  # noqa: E402

MODEL = ["mobilenet_v1_0_25", "--input-size", "64", "--format", "onnx", "--no-record"]


def snapshot(folder):
    """{name: (bytes, inode, mtime_ns)} of every file, hidden ones included."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            st = p.stat()
            out[p.relative_to(folder).as_posix()] = (p.read_bytes(), st.st_ino, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Good weights for the smallest zoo model, and the same with one NaN / a negative BN variance."""
    from edgekit.zoo import get_model

    d = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    state = get_model("mobilenet_v1_0_25").module.state_dict()
    torch.save(state, d / "good.pth")
    nan = {k: v.clone() for k, v in state.items()}
    nan["features.0.0.weight"][0, 0, 0, 0] = float("nan")
    torch.save(nan, d / "nan.pth")
    neg = {k: v.clone() for k, v in state.items()}
    var = next(k for k in neg if k.endswith("running_var"))
    neg[var][0] = -1.0  # finite, but folding takes sqrt(var + eps): NaN in the folded conv
    torch.save(neg, d / "negative_var.pth")
    return d, var


@pytest.fixture(scope="module")
def good_out(tmp_path_factory, weights):
    out = tmp_path_factory.mktemp("out")
    proc = run_cli("export", *MODEL, "--weights", weights[0] / "good.pth", "--int8", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in out.iterdir()} == {
        "mobilenet_v1_0_25_fp32.onnx", "mobilenet_v1_0_25_fp32.onnx.edgekit.json",
        "mobilenet_v1_0_25_int8.onnx", "mobilenet_v1_0_25_int8.onnx.edgekit.json"}
    return out


def test_nan_weights_are_refused_before_any_file_is_written(good_out, weights):
    before = snapshot(good_out)
    proc = run_cli("export", *MODEL, "--weights", weights[0] / "nan.pth", "--int8", "--out", good_out)
    assert_clean_error(proc, "NaN or inf", "1 of")
    assert snapshot(good_out) == before


def test_weights_that_fold_to_nan_are_refused(good_out, weights):
    before = snapshot(good_out)
    proc = run_cli("export", *MODEL, "--weights", weights[0] / "negative_var.pth", "--out", good_out)
    assert_clean_error(proc, "after folding batchnorm", "nan or inf")
    assert snapshot(good_out) == before


def test_nan_in_calibration_inputs_names_the_row(good_out, weights, tmp_path):
    x = np.random.default_rng(0).standard_normal((6, 3, 64, 64)).astype(np.float32)
    x[4, 0, 1, 2] = np.inf
    np.save(tmp_path / "calib.npy", x)
    before = snapshot(good_out)
    proc = run_cli("export", *MODEL, "--weights", weights[0] / "good.pth", "--int8", "--calib",
                   tmp_path / "calib.npy", "--out", good_out)
    assert_clean_error(proc, "calib.npy[4]", "1 of 6")
    assert snapshot(good_out) == before


def test_a_format_that_fails_late_leaves_the_earlier_files_untouched(tmp_path):
    """fp32 .tflite is written and validated, then int8 fails (an op without int8 kernel):
    the run fails and the folder holds exactly what the earlier good run wrote."""
    pytest.importorskip("tensorflow")
    import keras

    inp = keras.Input((32, 32, 3))
    x = keras.layers.LayerNormalization(name="norm")(keras.layers.Conv2D(8, 3, name="stem")(inp))
    keras.Model(inp, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x))).save(tmp_path / "ln.keras")
    out = tmp_path / "out"
    proc = run_cli("export", tmp_path / "ln.keras", "--format", "tflite", "--out", out, "--no-record")
    assert proc.returncode == 0, proc.stderr
    before = snapshot(out)
    assert set(before) == {"ln_fp32.tflite", "ln_fp32.tflite.edgekit.json"}
    proc = run_cli("export", tmp_path / "ln.keras", "--format", "tflite", "--int8", "--out", out, "--no-record")
    assert_clean_error(proc, "--float-fallback")
    assert "tflite fp32" in proc.stderr  # the fp32 file was made again in this run, then thrown away
    assert snapshot(out) == before


def test_an_interrupted_export_leaves_no_staging_folder(good_out, weights):
    """SIGINT in the middle of an export: the staging folder inside --out is removed."""
    import signal
    import subprocess
    import sys
    import time

    from conftest import REPO

    before = snapshot(good_out)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    # three formats, so that after the first file the run has many seconds left: with ONNX alone a
    # fast Xeon finished the whole export within the 0.5 s below and SIGINT found no process
    formats = ["--format", "tflite", "--format", "openvino"]  # MODEL names onnx
    proc = subprocess.Popen([sys.executable, "-m", "edgekit.cli.main", "export", *MODEL, *formats, "--weights",
                             weights[0] / "good.pth", "--int8", "--out", good_out], env=env,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:  # wait until the run is writing into its staging folder
        lines.append(line)
        if line.startswith("onnx fp32"):
            break
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=120)[1]
    assert proc.returncode != 0, "".join(lines) + rest
    assert "Traceback" not in rest
    assert snapshot(good_out) == before
