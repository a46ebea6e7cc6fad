"""`edgekit sweep` before anything runs: the matrix, job keys, --dry-run, and bad input, each one
clear line with nothing started and nothing written. No Ray cluster starts in this file."""
from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import replace

import pytest

from conftest import REPO, assert_clean_error, run_cli

SMALL = ["--models", "mobilenet_v1_0_25", "--formats", "onnx", "--devices", "local", "--input-size", "32"]


def _plan(**kw):
    from edgekit.sweep import SweepMatrix, plan

    base = dict(models=("mobilenet_v1_0_25",), formats=("onnx",), devices=("local",))
    return plan(SweepMatrix(**{**base, **kw}))


def test_matrix_expands_and_drops_what_a_format_cannot_write():
    p = _plan(formats=("onnx", "tflite"), precisions=("fp32", "int8", "fp16"), devices=("local", "ssh://pi"),
              threads=(1, 2))
    assert [(e.format, e.precisions) for e in p.exports] == [("onnx", ("fp32", "int8")),
                                                            ("tflite", ("fp32", "fp16", "int8"))]
    assert p.exports[1].export_options == {"fp16": True}  # TfliteOptions(fp16=True) writes the fp16 file
    assert len(p.benches) == (2 + 3) * 2 * 2
    assert p.notes == ["onnx has no fp16: left out of the matrix (onnx writes fp32, int8)"]
    assert len({b.key for b in p.benches}) == len(p.benches)


def test_job_key_covers_every_field_and_is_stable():
    from edgekit.sweep.jobs import BenchJob

    base = _plan(precisions=("fp32", "int8"), devices=("local", "adb://x"), threads=(1, 2))
    job = base.benches[0]
    assert job.key == _plan(precisions=("fp32", "int8"), devices=("local", "adb://x"), threads=(1, 2)).benches[0].key
    export = job.export
    variants = [
        replace(job, export=replace(export, model=replace(export.model, name="squeezenet1_1"))),
        replace(job, export=replace(export, model=replace(export.model, weights_sha256="ab" * 32))),
        replace(job, export=replace(export, model=replace(export.model, input_size=64))),
        replace(job, export=replace(export, format="openvino")),
        replace(job, precision="int8"),
        replace(job, export=replace(export, export_options={"fp16": True})),
        replace(job, device="adb://x"),
        replace(job, threads=2),
        replace(job, bench_options=(("min_runs", 7),)),
        replace(job, export=replace(export, edgekit_version="9.9.9")),
    ]
    keys = {v.key for v in variants} | {job.key}
    assert len(keys) == len(variants) + 1
    assert all(isinstance(v, BenchJob) for v in variants)


def test_toml_file_and_flags_over_it(tmp_path):
    cfg = tmp_path / "sweep.toml"
    cfg.write_text('models = ["mobilenet_v1_0_25", "squeezenet1_1"]\nformats = ["onnx"]\n'
                   'devices = ["local"]\nthreads = [1, 2]\ninput_size = 32\n[bench]\nmin_runs = 3\n')
    proc = run_cli("sweep", "--config", cfg, "--models", "squeezenet1_1", "--dry-run", "--json",
                   "--db", tmp_path / "r.sqlite")
    assert proc.returncode == 0, proc.stderr
    import json

    jobs = json.loads(proc.stdout)["jobs"]
    assert {j["model"] for j in jobs} == {"squeezenet1_1"}  # the flag replaced the file's list
    assert sorted(j["threads"] for j in jobs if j["kind"] == "bench") == [1, 2]
    assert {j["bench"]["min_runs"] for j in jobs if j["kind"] == "bench"} == {3}
    assert not (tmp_path / "r.sqlite").exists()  # a dry run writes nothing


def test_dry_run_lists_every_job_as_todo(tmp_path):
    proc = run_cli("sweep", *SMALL, "--devices", "ssh://pi", "--threads", "1,2", "--dry-run",
                   "--db", tmp_path / "r.sqlite")
    assert proc.returncode == 0, proc.stderr
    assert "5 of 5 jobs to run" in proc.stdout  # 1 export + 1 file x 2 devices x 2 thread counts
    assert proc.stdout.count("todo") == 5


@pytest.mark.parametrize("args, needles", [
    (["--models", "mobilenetv2", "--formats", "onnx", "--devices", "local"], ["unknown model", "mobilenet_v2"]),
    (["--models", "mobilenet_v2", "--formats", "onx", "--devices", "local"], ["unknown format", "did you mean 'onnx'"]),
    (["--models", "mobilenet_v2", "--formats", "onnx", "--precisions", "int4", "--devices", "local"],
     ["unknown precision", "int8"]),
    (["--formats", "onnx", "--devices", "local"], ["matrix is empty", "no models"]),
    (["--models", "mobilenet_v2", "--formats", "onnx"], ["matrix is empty", "no devices", "--export-only"]),
    (["--models", "mobilenet_v2", "--formats", "onnx", "--precisions", "fp16", "--devices", "local"],
     ["matrix is empty", "onnx has no fp16"]),
    (["--models", "mobilenet_v2,mobilenet_v2", "--formats", "onnx", "--devices", "local"], ["given twice"]),
    (["--models", "mobilenet_v2", "--formats", "onnx", "--devices", "pi"], ["not a device uri"]),
    (["--models", "mobilenet_v2", "--formats", "onnx", "--devices", "local", "--weights", "squeezenet1_1=x.pth"],
     ["not in the matrix"]),
    ([*SMALL, "--ray-address", "not an address"], ["not a ray address", "ray://HOST:PORT"]),
    ([*SMALL, "--no-record"], ["records every job", "--db PATH"]),
])
def test_bad_input_is_one_line_before_anything_runs(tmp_path, args, needles):
    out, db = tmp_path / "out", tmp_path / "r.sqlite"
    assert_clean_error(run_cli("sweep", *args, "--out", out, "--db", db), *needles)
    assert not out.exists()


def test_bad_toml_is_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('models = ["mobilenet_v2"]\nformat = ["onnx"]\n')
    assert_clean_error(run_cli("sweep", "--config", bad, "--dry-run"), "unknown key 'format'", "formats")
    bad.write_text('models = ["mobilenet_v2"\n')
    assert_clean_error(run_cli("sweep", "--config", bad, "--dry-run"), "not valid toml")


def test_unreachable_ray_address_is_one_quick_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    proc = run_cli("sweep", *SMALL, "--ray-address", f"127.0.0.1:{port}", "--out", tmp_path / "o",
                   "--db", tmp_path / "r.sqlite", timeout=60)
    assert_clean_error(proc, f"cannot reach the ray cluster at --ray-address 127.0.0.1:{port}", "ray start --head")


def test_without_ray_the_sweep_names_the_extra(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"
            f"sys.argv = ['edgekit', 'sweep', *{SMALL!r}, '--out', {str(tmp_path / 'o')!r}, "
            f"'--db', {str(tmp_path / 'r.sqlite')!r}]\n"
            "from edgekit.cli.main import main\nmain()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    assert_clean_error(proc, "ray is not installed", "pip install 'edgekit[sweep]'")


def test_public_functions_survive_importing_their_packages():
    """`edgekit.export` and `edgekit.sweep` are functions and packages alike: the package import
    inside the first call must not replace the function (a second call failed before)."""
    import importlib

    import edgekit

    packages = {name: importlib.import_module(f"edgekit.{name}") for name in ("export", "sweep")}
    for name in ("export", "sweep", "bench", "run", "validate"):
        assert callable(getattr(edgekit, name)), name
    assert packages["sweep"].run_sweep and packages["export"].EXPORTERS
