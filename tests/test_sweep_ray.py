"""`edgekit sweep` on Ray in-process, over the host, the emulated Pi (ssh) and the adb stand-in:
every job once, each file exported once and benched by every device, no two benches at once
on a device, host benches never beside an export, and a re-run that resumes."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="pip install 'edgekit[sweep]' (scripts/test.sh does)")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import run_cli  # noqa: E402
from device_rig import pi_uri, rig, rig_flags  # noqa: E402,F401
from sweep_helpers import MODELS, SHORT, adb_uri, bench_rows, jobs, overlapping  # noqa: E402

pytestmark = pytest.mark.rig


@pytest.fixture(scope="module")
def sweep(rig, tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    devices = f"local,{pi_uri(rig)},{adb_uri(rig)}"
    args = [*MODELS, "--formats", "onnx", "--devices", devices, *SHORT, "--out", d / "out", "--db", d / "r.sqlite",
            *rig_flags(rig)]
    proc = run_cli("sweep", *args, timeout=900)
    return {"proc": proc, "db": d / "r.sqlite", "out": d / "out", "args": args, "devices": devices.split(",")}


def test_every_job_done_once_and_each_file_benched_by_every_device(sweep):
    proc, db = sweep["proc"], sweep["db"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    files, benches = jobs(db, "file", "done"), jobs(db, "bench", "done")
    assert len(files) == 2 and len(benches) == 6 and not jobs(db, status="failed")
    assert len({b["key"] for b in benches}) == 6
    sha_of = {f["file"]: f["file_sha256"] for f in files}
    for b in bench_rows(db):  # the bytes each device timed are the bytes exported once
        assert b["file_sha256"] == sha_of[b["file"]], b["file"]
        assert b["result"]["sweep"]["key"] in {j["key"] for j in benches}
    assert {b["device"] for b in benches} == set(sweep["devices"])
    for d in sweep["devices"]:
        assert f"{d.partition('?')[0]} ms" in proc.stdout.splitlines()[0]  # one latency column per device
    html = (sweep["out"] / "report" / "report.html").read_text()
    assert "id='plot-accuracy_by_device'" in html and "ssh://" in html


def test_no_two_benches_overlap_on_one_device(sweep):
    benches = jobs(sweep["db"], "bench", "done")
    for d in sweep["devices"]:
        mine = [(b["started_at"], b["ended_at"], b["name"]) for b in benches if b["device"] == d]
        assert len(mine) == 2 and all(s < e for s, e, _ in mine)
        assert overlapping(mine) == [], d
    others = [(b["started_at"], b["ended_at"], b["name"]) for b in benches if b["device"] != "local"]
    assert overlapping(others), "benches on different devices should run concurrently"


def test_host_benches_never_run_beside_an_export(sweep):
    db = sweep["db"]
    exports = [(f["started_at"], f["ended_at"], f["name"]) for f in jobs(db, "file", "done")]
    local = [(b["started_at"], b["ended_at"], b["name"]) for b in jobs(db, "bench", "done") if b["device"] == "local"]
    pairs = overlapping(exports + local)
    assert not [p for p in pairs if ("on local" in p[0]) != ("on local" in p[1])], pairs


def test_rerun_resumes_without_ray_or_new_rows(sweep):
    before = bench_rows(sweep["db"])
    proc = run_cli("sweep", *sweep["args"], timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "all 8 jobs already done" in proc.stderr and "Ray on this machine" not in proc.stderr
    assert [r["id"] for r in bench_rows(sweep["db"])] == [r["id"] for r in before]
    assert "6 bench results (6 resumed)" in proc.stdout


def test_force_redoes_the_jobs_asked_for(sweep):
    db = sweep["db"]
    n_files, n_bench = len(jobs(db, "file")), len(bench_rows(db))
    proc = run_cli("sweep", "--models", "squeezenet1_1", "--input-size", "32", "--formats", "onnx", "--devices",
                   "local", *SHORT, "--out", sweep["out"], "--db", db, "--force", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(jobs(db, "file")) == n_files + 1 and len(bench_rows(db)) == n_bench + 1
    assert "1 bench results (0 resumed)" in proc.stdout


def test_python_api_export_only(tmp_path):
    import edgekit

    result = edgekit.sweep(models=["mobilenet_v1_0_25"], formats=["onnx"], precisions=["fp32", "int8"], input_size=32,
                           export_only=True, out_dir=tmp_path / "o", db=tmp_path / "r.sqlite")
    assert not result.failures and not result.results
    assert sorted(f["precision"] for f in result.files) == ["fp32", "int8"]
    # validated: agreement figures, or (random-init weights give constant logits) the warning saying why none
    assert all(Path(f["path"]).is_file() and f["samples"] and (f["top1_agreement"] is not None) != bool(f["warnings"])
               for f in result.files)
    again = edgekit.sweep(models=["mobilenet_v1_0_25"], formats=["onnx"], precisions=["fp32", "int8"], input_size=32,
                          export_only=True, out_dir=tmp_path / "o", db=tmp_path / "r.sqlite")
    assert again.resumed == {"exports": 1, "benches": 0} and "ray_startup_s" not in again.timings
