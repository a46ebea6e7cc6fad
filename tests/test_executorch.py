"""ExecuTorch (.pte, XNNPACK) of MobileNetV2 with torchvision's weights, beside ONNX, on the real photos.

One export writes ONNX and ExecuTorch, fp32 and int8, calibrated on edgekit's half of the 78
photos and measured on the other 39: the int8 .pte (PT2E on the int8-prepared module) must agree
with float within 3 photos of the ONNX int8 file of the same run (the plain PT2E route agreed on
38 of 48). Then inspect (what XNNPACK took), bench beside ONNX, and bad input.
"""
from __future__ import annotations

import json

import pytest

from conftest import assert_clean_error, run_cli

pytest.importorskip("executorch")
pytest.importorskip("onnxruntime")

MARGIN = 3  # photos: int8 kernels differ between CPUs (AMD / Intel VNNI / AMX)


@pytest.fixture(scope="module")
def files(tmp_path_factory, mobilenet_v2_weights, photos_dir):
    out = tmp_path_factory.mktemp("executorch")
    proc = run_cli("export", "mobilenet_v2", "--weights", mobilenet_v2_weights, "--format", "onnx",
                   "--format", "executorch", "--int8", "--calib", photos_dir, "--out", out, "--no-record", "--json",
                   timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {(a["format"], a["precision"]): a for a in json.loads(proc.stdout)["artifacts"]}


@pytest.mark.slow
def test_fp32_pte_equals_float_and_is_one_delegate(files):
    art = files[("executorch", "fp32")]
    acc = art["meta"]["accuracy"]
    assert acc["samples"] == 39 and acc["top1_agreement"] == 1.0 and acc["sqnr_db"] > 80, acc
    d = art["meta"]["delegation"]
    assert d["delegated_subgraphs"] == 1 and d["not_delegated_ops"] == [], d
    assert art["path"].endswith("mobilenet_v2_fp32.pte")


@pytest.mark.slow
def test_int8_pte_matches_onnx_int8(files):
    pte, onnx = files[("executorch", "int8")]["meta"], files[("onnx", "int8")]["meta"]
    n = pte["accuracy"]["samples"]
    agree = round(pte["accuracy"]["top1_agreement"] * n)
    onnx_agree = round(onnx["accuracy"]["top1_agreement"] * n)
    assert agree >= onnx_agree - MARGIN, (agree, onnx_agree)
    assert pte["accuracy"]["cosine_mean"] >= onnx["accuracy"]["cosine_mean"] - 0.005, (pte["accuracy"], onnx["accuracy"])
    assert pte["int8_preparation"]["weight_rounding"]["method"] == "gptq"
    assert pte["quantization"]["method"] == "mse" and pte["delegation"]["not_delegated_ops"] == []


@pytest.mark.slow
def test_inspect_shows_what_is_delegated(files):
    for precision in ("fp32", "int8"):
        proc = run_cli("inspect", files[("executorch", precision)]["path"], "--json")
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        forward = doc["program"]["methods"]["forward"]
        assert forward["delegate_calls"] == {"XnnpackBackend": 1} and forward["kernel_calls"] == {}, forward
        assert doc["verdict"]["fully_delegated"] is True and doc["verdict"]["precision"] == precision
    human = run_cli("inspect", files[("executorch", "int8")]["path"])
    assert "1 delegate call(s) (XnnpackBackend x1), 0 operator(s) on portable kernels" in human.stdout, human.stdout


@pytest.mark.slow
def test_bench_pte_beside_onnx(files):
    paths = [files[(f, p)]["path"] for f in ("onnx", "executorch") for p in ("fp32", "int8")]
    proc = run_cli("bench", *paths, "--threads", "1", "--min-runs", "5", "--min-seconds", "0.2", "--processes", "1",
                   "--no-record", "--json", timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    engines = {r["file"].rsplit("/", 1)[-1]: r["engine"] for r in doc["results"]}
    assert engines["mobilenet_v2_int8.pte"] == "executorch" and engines["mobilenet_v2_fp32.onnx"] == "onnxruntime"
    ratios = {(r["format"], r["engine"]) for r in doc["ratios"]}
    assert ("executorch", "executorch") in ratios and ("onnx", "onnxruntime") in ratios, doc["ratios"]


def test_corrupt_pte_refused_by_bench_and_inspect(tmp_path):
    bad = tmp_path / "broken.pte"
    bad.write_bytes(b"\x3c\x00\x00\x00ET12" + b"\x00" * 64)
    assert_clean_error(run_cli("inspect", bad), "broken.pte")
    assert_clean_error(run_cli("bench", bad, "--no-record", "--min-runs", "1", "--processes", "1"), "broken.pte")


def test_executorch_without_the_extra(tmp_path):
    """--format executorch where executorch is not installed: one line naming the extra, before any work."""
    import subprocess
    import sys

    from conftest import REPO

    code = ("import sys; sys.modules['executorch'] = None\n"
            "import importlib.util as u; real = u.find_spec\n"
            "u.find_spec = lambda n, *a: None if n.split('.')[0] == 'executorch' else real(n, *a)\n"
            "sys.argv = ['edgekit', 'export', 'mobilenet_v2', '--format', 'executorch', '--out', %r, '--no-record']\n"
            "from edgekit.cli.main import main\nmain()" % str(tmp_path / "out"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    line = assert_clean_error(proc, "edgekit[executorch]")
    assert "ExecuTorch export needs executorch" in line, line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_runner_runs_pte_with_executorch_only(tmp_path):
    """The device runner on a .pte with tensorflow, onnx, edgekit, ... poisoned. torch is not: ExecuTorch's
    Python runtime (its pybindings) imports it itself; the runner imports only numpy and executorch."""
    import torch

    from edgekit.formats.executorch import lower_to_xnnpack, quiet
    from test_runner import SHORT, run_isolated

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(8, 10)).eval()
    with quiet():
        data, info = lower_to_xnnpack(torch.export.export(net, (torch.zeros(1, 3, 32, 32),)))
    pte = tmp_path / "tiny.pte"
    pte.write_bytes(data)
    out = tmp_path / "result.json"
    import test_runner

    forbidden = test_runner.FORBIDDEN
    test_runner.FORBIDDEN = tuple(m for m in forbidden if m != "torch")
    try:
        proc, iso = run_isolated(tmp_path, ["--model", pte, *SHORT, "--json-out", out])
    finally:
        test_runner.FORBIDDEN = forbidden
    assert iso["code"] in (0, None), proc.stderr
    assert iso["loaded"] == [], f"runner imported {iso['loaded']}"
    doc = json.loads(out.read_text())
    assert doc["engine"] == "executorch" and doc["input"]["shape"] == [1, 3, 32, 32] and doc["stats"]["runs"] >= 5
