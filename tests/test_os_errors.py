"""OS and runtime errors end in one line (item 6 of issue 14), each kind tested for real: a full
disk (a small tmpfs), paths that are not regular files, permissions (root without its
DAC-override capability), a runtime's own message kept whole, Pillow's decompression-bomb
guard, and SIGTERM / SIGINT (clean exit, nothing half-written, no process or device folder left)."""
from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest

from bench_models import env, forever_onnx, processes_using, relu_onnx
from conftest import assert_clean_error, run_cli
from device_rig import adb_shell, pi_uri, rig, rig_flags, ssh  # noqa: F401 (rig: a fixture)

from edgekit.report.db import ResultsDB


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A real small file system: writes past ``size`` fail with ENOSPC."""
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"mounting a tmpfs needs root: {r.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(folder: Path) -> None:
    """Take every free byte of ``folder``'s file system."""
    with open(folder / "filler", "wb", buffering=0) as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0")


def _complete_outputs(folder: Path) -> None:
    """Nothing half-written: no temp or staging file, and each model file has its sidecar."""
    names = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    assert not [n for n in names if n.endswith(".part") or n.startswith(".")], names
    for n in names:
        if n.endswith((".onnx", ".tflite", ".xml")):
            assert f"{n}.edgekit.json" in names, names


def _fake_result(i: int) -> dict:
    times = [1.0 + 0.01 * (k % 7) + i for k in range(400)]
    stats = {k: times[0] for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms", "max_ms")}
    return {"file": f"/m/model{i}.onnx", "engine": "onnxruntime", "threads": 1, "model_sha256": f"{i:02d}" * 32,
            "runtime_version": "1", "stats": {**stats, "runs": 400, "std_ms": 0.01}, "times_ms": times,
            "host": {"cpu_model": "cpu", "cores": 2}, "file_size_bytes": 1000 * (i + 1)}


# ---- disk full ----

def test_disk_full_during_a_tflite_int8_file(tmp_path):
    """fp32 .tflite (1.9 MB) fits in 2 MB, its int8 file does not."""
    with tmpfs(tmp_path / "disk", "2m") as disk:
        proc = run_cli("export", "mobilenet_v1_0_25", "--format", "tflite", "--int8", "--out", disk / "out",
                       "--no-record", timeout=900)
        assert_clean_error(proc, "no space left on device", "free some space")
        _complete_outputs(disk / "out")


def test_disk_full_while_writing_a_report(tmp_path):
    db = tmp_path / "r.sqlite"
    with ResultsDB(db) as d:
        d.record_bench([_fake_result(i) for i in range(6)], label="r")
    roomy = tmp_path / "roomy"
    assert run_cli("report", "--db", db, "--out", roomy).returncode == 0
    whole = {p.name: p.read_bytes() for p in roomy.iterdir()}
    assert sum(map(len, whole.values())) > 150_000
    with tmpfs(tmp_path / "disk", "64k") as disk:  # the 51 kB latency plot fits, the rest does not
        proc = run_cli("report", "--db", db, "--out", disk / "rep")
        assert_clean_error(proc, "no space left on device")
        written = {p.name: p.read_bytes() for p in (disk / "rep").iterdir()}
        assert written and set(written) < set(whole), sorted(written)
        for name, data in written.items():  # none truncated (plots carry random clip-path ids: parse them)
            assert len(data) == len(whole[name]), name
            if name.endswith(".svg"):
                ElementTree.fromstring(data)


def test_disk_full_under_the_results_database(tmp_path):
    model = relu_onnx(tmp_path)
    short = ["--min-runs", "2", "--min-seconds", "0", "--warmup-seconds", "0", "--processes", "1"]
    with tmpfs(tmp_path / "disk", "256k") as disk:
        db = disk / "results.sqlite"
        ResultsDB(db).close()
        before = hashlib.sha256(db.read_bytes()).hexdigest()
        _fill(disk)
        proc = run_cli("bench", model, *short, "--db", db)
        line = assert_clean_error(proc, "results database", "full")
        assert "Traceback" not in proc.stderr and str(db) in line
        assert hashlib.sha256(db.read_bytes()).hexdigest() == before


# ---- not a regular file, permissions ----

def _special_paths(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.onnx"
    folder.mkdir()
    return {"fifo": fifo, "folder": folder, "device": Path("/dev/zero")}


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_paths_that_are_not_regular_files(tmp_path, kind):
    path = _special_paths(tmp_path)[kind]
    word = {"fifo": "a fifo", "folder": "a folder", "device": "a device"}[kind]
    for args in (["inspect", path], ["bench", path, "--no-record"], ["validate", path],
                 ["export", "mobilenet_v2", "--weights", path, "--out", tmp_path / "o"]):
        assert_clean_error(run_cli(*args, timeout=60), f"is {word}, not a regular file")
    if kind != "folder":
        assert_clean_error(run_cli("export", "mobilenet_v2", "--int8", "--calib", path, "--out", tmp_path / "o"),
                           "not a regular file", "folder of images")
    assert not (tmp_path / "o").exists()


def _without_dac_override(*args) -> subprocess.CompletedProcess:
    """edgekit as root without CAP_DAC_OVERRIDE: file permissions apply to it as to any user."""
    argv = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", sys.executable, "-m",
            "edgekit.cli.main", *map(str, args)]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env())
    except FileNotFoundError:
        pytest.skip("needs setpriv (util-linux)")


def test_permission_denied(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("runs as root with a capability dropped")
    secret = relu_onnx(tmp_path)
    secret.chmod(0)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    db = tmp_path / "r.sqlite"
    with ResultsDB(db) as d:
        d.record_bench([_fake_result(0)])
    for args, needle in ((["inspect", secret], "permission denied"), (["bench", secret, "--no-record"],
                                                                     "permission denied"),
                         (["export", "mobilenet_v2", "--out", locked / "o", "--no-record"], "not writable"),
                         (["report", "--db", db, "--out", locked], "not writable")):
        assert_clean_error(_without_dac_override(*args), needle)
    assert os.listdir(locked) == []


# ---- a runtime's own message, Pillow's bomb guard ----

def test_runtime_message_kept_whole(tmp_path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    ov = pytest.importorskip("openvino")
    vi = helper.make_tensor_value_info
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [vi("x", TensorProto.FLOAT, [1, 4])],
                              [vi("y", TensorProto.FLOAT, [1, 4])],
                              [numpy_helper.from_array(np.eye(4, dtype=np.float32) * 3, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), tmp_path / "m.onnx")
    ov.save_model(ov.convert_model(str(tmp_path / "m.onnx")), str(tmp_path / "m.xml"), compress_to_fp16=False)
    lonely = tmp_path / "lonely.xml"
    lonely.write_bytes((tmp_path / "m.xml").read_bytes())  # its weights stay in m.bin: no lonely.bin
    for extra in ([], ["--device", "local"]):
        line = assert_clean_error(run_cli("bench", lonely, "--processes", "1", "--no-record", *extra),
                                  "openvino cannot load")
        assert "bin file cannot be found" in line and "core.cpp:84" not in line


def test_decompression_bomb_in_calibration_images(tmp_path, photos_dir):
    from PIL import Image

    calib = tmp_path / "calib"
    calib.mkdir()
    for p in sorted(photos_dir.rglob("*.jpg"))[:3]:
        (calib / p.name).write_bytes(p.read_bytes())
    Image.new("L", (20_000, 20_000)).save(calib / "zz_bomb.png")  # 400 Mpixel, a 0.4 MB file
    proc = run_cli("export", "mobilenet_v1_0_25", "--format", "onnx", "--int8", "--calib", calib,
                   "--out", tmp_path / "o", "--no-record")
    assert_clean_error(proc, "zz_bomb.png", "too large to decode safely", "decompression bomb")
    assert not (tmp_path / "o").exists() or not os.listdir(tmp_path / "o")


# ---- SIGTERM and SIGINT ----

def _signal_when(args: list, marker: str, sig: int, delay: float = 1.0, timeout: float = 600):
    """Send ``sig`` ``delay`` s after stderr shows ``marker`` (read unbuffered: the moment it is written)."""
    proc = subprocess.Popen([sys.executable, "-m", "edgekit.cli.main", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, bufsize=0, env=env())
    seen = []
    for line in iter(proc.stderr.readline, b""):
        seen.append(line.decode(errors="replace"))
        if marker in seen[-1]:
            time.sleep(delay)
            proc.send_signal(sig)
            break
    out, err = proc.communicate(timeout=timeout)
    proc.stderr_text = "".join(seen) + err.decode(errors="replace")
    assert any(marker in s for s in seen), proc.stderr_text
    return proc


def _assert_interrupted(proc, sig: int) -> None:
    assert proc.returncode == (143 if sig == signal.SIGTERM else 130), proc.stderr_text
    assert "Traceback" not in proc.stderr_text, proc.stderr_text
    assert ("terminated" if sig == signal.SIGTERM else "interrupted") in proc.stderr_text.splitlines()[-1]


@pytest.mark.parametrize("sig, formats, marker", [(signal.SIGTERM, ["tflite"], "tflite fp32: converting"),
                                                  (signal.SIGINT, ["onnx", "tflite"], "onnx fp32: exporting")])
def test_signal_during_an_export(tmp_path, sig, formats, marker):
    """SIGTERM inside TensorFlow's converter (native code) and SIGINT inside torch.onnx."""
    out = tmp_path / "out"
    fmt = [a for f in formats for a in ("--format", f)]
    # signalled 0.1 s into the step: on an idle CPU the TFLite conversion and its validation were
    # over within 0.5 s (CI exited 0 before the signal came)
    proc = _signal_when(["export", "mobilenet_v2", *fmt, "--out", out, "--no-record"], marker, sig, delay=0.1)
    _assert_interrupted(proc, sig)
    _complete_outputs(out)


def test_sigterm_during_a_bench_reaps_its_runner(tmp_path):
    model = forever_onnx(tmp_path / "forever.onnx")
    proc = _signal_when(["bench", model, "--processes", "1", "--no-record"], "bench [1/1]", signal.SIGTERM, 2.0)
    _assert_interrupted(proc, signal.SIGTERM)
    assert processes_using(model) == []


def _device_interrupt(tmp_path, uri: str, workdir_listing, sig: int, *extra) -> None:
    model = forever_onnx(tmp_path / "forever.onnx")
    proc = _signal_when(["bench", model, "--device", uri, "--processes", "1", "--no-record", *extra],
                        "with runner.py", sig, 2.0)
    _assert_interrupted(proc, sig)
    assert "removing their temp folders" in proc.stderr_text
    assert workdir_listing() == []
    assert processes_using(model) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_local_device_bench_leaves_no_folder(tmp_path, sig):
    work = tmp_path / "devtmp"
    work.mkdir()
    _device_interrupt(tmp_path, f"local://?tmpdir={work}", lambda: os.listdir(work), sig)


@pytest.mark.rig
@pytest.mark.parametrize("kind", ["ssh", "adb"])
def test_interrupted_device_bench_leaves_no_folder_or_process(tmp_path, rig, kind):
    """The runner on the device is stopped (its pid was recorded in the folder) and the folder removed."""
    if kind == "ssh":
        remote = f"/tmp/ek-interrupt-{os.getpid()}"
        shell = lambda *a: ssh(rig, *a)  # noqa: E731
        uri = pi_uri(rig, tmpdir=remote)
    else:
        remote = f"/data/local/tmp/ek-interrupt-{os.getpid()}"
        shell = lambda *a: adb_shell(rig, *a)  # noqa: E731
        uri = f"adb://{rig['ADB_SERIAL']}?python=/opt/venv/bin/python3&tmpdir={remote}"
    assert shell("mkdir", "-p", remote).returncode == 0
    try:
        _device_interrupt(tmp_path, uri, lambda: shell("ls", "-A", remote).stdout.split(), signal.SIGTERM,
                          *rig_flags(rig), "--max-seconds", "600")
        assert "forever.onnx" not in shell("ps", "-A", "-o", "args").stdout
    finally:
        shell("rm", "-rf", remote)
