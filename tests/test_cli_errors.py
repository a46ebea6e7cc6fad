"""Bad input to `edgekit export`: one clear line, non-zero exit, no traceback, no partial file."""
from __future__ import annotations

import pytest

from conftest import assert_clean_error, run_cli


def _no_files(out):
    return not out.exists() or not [p for p in out.rglob("*") if p.is_file()]


def test_unknown_model_suggests_the_closest(tmp_path):
    line = assert_clean_error(run_cli("export", "mobilenetv2", "--out", tmp_path / "o"), "unknown model")
    assert "did you mean 'mobilenet_v2'" in line.lower()
    assert _no_files(tmp_path / "o")


def test_missing_weights_file(tmp_path):
    proc = run_cli("export", "mobilenet_v2", "--weights", tmp_path / "nope.pth", "--out", tmp_path / "o")
    assert_clean_error(proc, "does not exist", "--weights")
    assert _no_files(tmp_path / "o")


def test_truncated_weights_file(tmp_path, mobilenet_v2_weights):
    bad = tmp_path / "truncated.pth"
    bad.write_bytes(mobilenet_v2_weights.read_bytes()[:200_000])
    proc = run_cli("export", "mobilenet_v2", "--weights", bad, "--out", tmp_path / "o")
    assert_clean_error(proc, "corrupt")
    assert _no_files(tmp_path / "o")


def test_garbage_weights_file(tmp_path):
    bad = tmp_path / "garbage.pth"
    bad.write_bytes(b"this is not a checkpoint" * 100)
    assert_clean_error(run_cli("export", "mobilenet_v2", "--weights", bad, "--out", tmp_path / "o"), "corrupt")


def test_weights_of_another_architecture_name_the_first_mismatched_key(tmp_path):
    import torch

    from edgekit.zoo import get_model

    other = tmp_path / "squeezenet.pth"
    torch.save(get_model("squeezenet1_1").module.state_dict(), other)
    proc = run_cli("export", "mobilenet_v2", "--weights", other, "--out", tmp_path / "o")
    line = assert_clean_error(proc, "do not fit mobilenet_v2")
    assert "key 'features.0.0.weight'" in line
    assert _no_files(tmp_path / "o")


def test_pickled_code_is_never_executed(tmp_path):
    """weights_only=True: a pickle that would run code is refused, and nothing runs."""
    import pickle

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "evil.pth"
    bad.write_bytes(pickle.dumps({"state_dict": Evil()}))
    proc = run_cli("export", "mobilenet_v2", "--weights", bad, "--out", tmp_path / "o")
    assert_clean_error(proc)
    assert not marker.exists()


@pytest.mark.parametrize("content", ["empty", "text-only"])
def test_calibration_folder_without_images(tmp_path, content):
    calib = tmp_path / "calib"
    calib.mkdir()
    if content == "text-only":
        (calib / "notes.txt").write_text("not an image")
        (calib / "data.csv").write_text("a,b\n")
    out = tmp_path / "o"
    proc = run_cli("export", "mobilenet_v2", "--int8", "--calib", calib, "--format", "onnx", "--out", out)
    line = assert_clean_error(proc, str(calib))
    assert ("empty" in line) if content == "empty" else ("no images" in line)
    assert _no_files(out)


def test_unwritable_output_directory(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")  # root ignores permission bits; a file in the path blocks anyone
    proc = run_cli("export", "mobilenet_v2", "--format", "onnx", "--out", blocker / "sub")
    assert_clean_error(proc, "not writable", "--out")


def test_unknown_format(tmp_path):
    proc = run_cli("export", "mobilenet_v2", "--format", "onx", "--out", tmp_path / "o")
    assert_clean_error(proc, "did you mean 'onnx'")


def test_bad_calibration_method(tmp_path):
    proc = run_cli("export", "mobilenet_v2", "--int8", "--calib-method", "magic", "--out", tmp_path / "o")
    assert_clean_error(proc, "minmax")
