"""`--target-agreement P --max-slowdown X` (pipeline/target.py), with real weights, real photos and
real runtimes: the flags' bad values, the no-op path (pure int8 already meets a low target), the
failure path (a target no file reaches: one line, nothing written), and the source-name
exclusions each quantizer maps to its own nodes (quantize/exclusions.py)."""
from __future__ import annotations

import importlib.util
import json
import os

import pytest

from conftest import assert_clean_error, run_cli

MODEL = ["mobilenet_v2", "--format", "onnx"]


@pytest.mark.parametrize("command", ["export", "run"])
@pytest.mark.parametrize("flags, needle", [
    (["--int8", "--target-agreement", "1.5"], "> 0 and <= 1"),
    (["--int8", "--target-agreement", "0"], "> 0 and <= 1"),
    (["--int8", "--target-agreement", "101%"], "> 0 and <= 1"),
    (["--int8", "--target-agreement", "0.97", "--max-slowdown", "0.5"], "from 1"),
    (["--target-agreement", "0.97"], "add --int8"),
    (["--int8", "--max-slowdown", "1.5"], "add --target-agreement"),
])
def test_bad_target_flags_one_line_before_any_work(tmp_path, command, flags, needle):
    out = tmp_path / "out"
    proc = run_cli(command, *MODEL, *flags, "--out", out, "--no-record", cwd=tmp_path, timeout=120)
    assert_clean_error(proc, needle)
    assert not out.exists() and os.listdir(tmp_path) == []


@pytest.mark.skipif(importlib.util.find_spec("executorch") is None, reason="ExecuTorch not installed")
def test_format_without_exclusions_is_refused(tmp_path):
    out = tmp_path / "out"
    proc = run_cli("export", "mobilenet_v2", "--format", "executorch", "--int8", "--target-agreement", "0.9",
                   "--out", out, "--no-record", cwd=tmp_path, timeout=300)
    assert_clean_error(proc, "cannot keep layers in float", "executorch")
    assert not any(out.glob("*.pte")) if out.exists() else True


def test_agreement_takes_a_fraction_or_a_percentage():
    from edgekit.cli.params import AGREEMENT, SLOWDOWN

    assert AGREEMENT.convert("97%", None, None) == pytest.approx(0.97)
    assert AGREEMENT.convert("1", None, None) == 1.0
    assert SLOWDOWN.convert("1", None, None) == 1.0


@pytest.fixture(scope="module")
def noop_export(tmp_path_factory, mobilenet_v2_weights, photos_dir):
    """Export ONNX int8 with a target pure int8 meets on any CPU (50%: it agrees ~90%)."""
    out = tmp_path_factory.mktemp("target_noop")
    proc = run_cli("export", "mobilenet_v2", "--weights", mobilenet_v2_weights, "--format", "onnx", "--int8",
                   "--calib", photos_dir, "--target-agreement", "50%", "--out", out, "--no-record", "--json",
                   timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads(proc.stdout)


def test_target_met_by_pure_int8_keeps_every_layer_int8(noop_export):
    out, doc = noop_export
    int8 = next(a for a in doc["artifacts"] if a["precision"] == "int8")
    block = int8["meta"]["precision_target"]
    assert block["met"] is True and block["layers"] == [] and block["target"] == 0.5
    assert block["max_slowdown"] == 1.25 and block["after"] == block["before"]
    assert block["before"]["top1_agreement"] >= 0.5 and block["before"]["cosine_mean"] > 0.98
    assert int8["meta"]["quantization"]["excluded_nodes"] == []
    assert (out / "mobilenet_v2_int8.onnx").is_file()
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "mobilenet_v2_fp32.onnx", "mobilenet_v2_fp32.onnx.edgekit.json",
        "mobilenet_v2_int8.onnx", "mobilenet_v2_int8.onnx.edgekit.json"]
    shown = run_cli("inspect", out / "mobilenet_v2_int8.onnx", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["precision_target"] == block
    human = run_cli("inspect", out / "mobilenet_v2_int8.onnx")
    assert "precision target" in human.stdout and "target 50% top-1 agreement met" in human.stdout


def test_source_names_map_to_onnx_and_openvino_nodes(noop_export, tmp_path, photos_dir):
    """One name list, each format's nodes; a real ORT quantization leaves exactly those float."""
    import onnx

    from edgekit.errors import ConfigError
    from edgekit.quantize.exclusions import onnx_layer_nodes, onnx_nodes_to_exclude, openvino_nodes_to_ignore

    out, _ = noop_export
    fp32 = out / "mobilenet_v2_fp32.onnx"
    model = onnx.load(str(fp32))
    names = ["features.16", "features.14.conv.1.0"]
    nodes = onnx_nodes_to_exclude(model, names)
    assert "/features/features.16/Add" in nodes
    assert "/features/features.14/conv/conv.1/conv.1.0/Conv" in nodes
    assert "/features/features.14/conv/conv.1/conv.1.2/Clip" in nodes  # its activation: no rounding in between
    with pytest.raises(ConfigError, match=r"no layer named 'features\.99'.*e\.g\. features\.0\.0"):
        onnx_nodes_to_exclude(model, ["features.99"])
    if importlib.util.find_spec("openvino"):
        import openvino as ov

        ignored = openvino_nodes_to_ignore(ov.convert_model(str(fp32)), onnx_layer_nodes(model), names)
        assert "/features/features.14/conv/conv.1/conv.1.0/Conv/WithoutBiases" in ignored
        assert "/features/features.16/Add" in ignored

    from edgekit.data import load_image_set
    from edgekit.quantize import QuantConfig
    from edgekit.quantize.onnx_int8 import quantize_onnx
    from edgekit.zoo import get_model

    images = load_image_set(photos_dir, get_model("mobilenet_v2").card.preprocess)
    summary = quantize_onnx(fp32, tmp_path / "q.onnx", images, QuantConfig(method="minmax", samples=4, exclude=names))
    assert summary["excluded_layers"] == names
    q = onnx.load(str(tmp_path / "q.onnx"))
    inits = {i.name for i in q.graph.initializer}
    conv = {n.name: n for n in q.graph.node if n.op_type == "Conv"}
    assert conv["/features/features.14/conv/conv.1/conv.1.0/Conv"].input[1] in inits  # float weight
    assert conv["/features/features.14/conv/conv.2/Conv"].input[1] not in inits  # dequantized int8 weight


def test_target_not_reached_says_so_and_writes_nothing(tmp_path, monkeypatch, mobilenet_v2_weights, photos_dir):
    """100% is above what pure int8 or one float layer reach on the 39 held-out photos (~35/39,
    and 3+ photos of margin on another CPU); one try only (STEPS), to keep the test short."""
    from edgekit.errors import AccuracyGateError
    from edgekit.pipeline import DataOptions, export, target
    from edgekit.quantize import QuantConfig
    from edgekit.zoo import get_model

    monkeypatch.setattr(target, "STEPS", (1,))
    out = tmp_path / "out"
    said = []
    with pytest.raises(AccuracyGateError) as err:
        export(get_model("mobilenet_v2", mobilenet_v2_weights), out, ["onnx"], int8=True,
               data=DataOptions(calib=photos_dir), quant=QuantConfig(method="minmax", samples=16),
               target=target.TargetOptions(1.0, 1.25), progress=said.append)
    msg = str(err.value)
    assert "\n" not in msg and "--target-agreement 100% not reached within --max-slowdown 1.25" in msg
    assert "onnx best" in msg and "nothing was written" in msg
    assert any("ranking" in s and "16 calibration images" in s for s in said)
    assert any(s.startswith("target: 1 layer(s) in float: agreement") for s in said)
    assert [p.name for p in out.iterdir()] == []  # not the pure int8 file, not the candidate, not fp32
