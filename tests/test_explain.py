"""`edgekit explain`: per-layer SQNR of the real int8 MobileNetV2 ONNX file against its fp32
sibling, on the photos the export held out, each layer named by its torch module.

Floors sit under what was measured (docs/int8_accuracy.md, "Per-layer story"): median layer
SQNR 20.4 dB, lowest 13.6 dB, final layer 18.94 dB = the sidecar's model-output SQNR.
"""
from __future__ import annotations

import json
import shutil

import pytest
from conftest import assert_clean_error, run_cli

LAYER_OPS = {"Conv": 52, "Add": 10, "GlobalAveragePool": 1, "Gemm": 1}


def _explain(path, *extra):
    proc = run_cli("explain", path, "--json", *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def explained(mobilenet_v2_export):
    out, _ = mobilenet_v2_export
    return _explain(out / "mobilenet_v2_int8.onnx")


def _copy_export(out, dst, names=("mobilenet_v2_int8.onnx", "mobilenet_v2_fp32.onnx")):
    dst.mkdir(exist_ok=True)
    for n in names:
        for f in (n, n + ".edgekit.json"):
            shutil.copy(out / f, dst / f)
    return dst


def test_every_quantized_layer_named_by_its_torch_module_in_network_order(explained, mobilenet_v2_weights):
    import torch

    from edgekit.zoo import get_model

    layers = explained["layers"]
    assert {op: sum(l["op"] == op for l in layers) for op in LAYER_OPS} == LAYER_OPS
    assert all(l["matched"] for l in layers)
    modules = dict(get_model("mobilenet_v2", mobilenet_v2_weights).module.named_modules())
    weighted = [l["module"] for l in layers if l["op"] in ("Conv", "Gemm")]
    # registration order is forward order in this model: the file's layers follow it
    assert weighted == [n for n, m in modules.items() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    adds = [l["module"] for l in layers if l["op"] == "Add"]
    assert all(type(modules[a]).__name__ == "InvertedResidual" for a in adds), adds
    assert layers[9]["module"] == "features.3" and layers[-1]["module"] == "classifier.1"
    for l in layers[:-1]:  # every output but the logits is requantized: its int8 range is shown
        q = l["output_quantization"]
        assert q["dtype"] == "uint8" and q["scale"] > 0 and q["range"][0] <= 0 < q["range"][1], l


def test_layer_sqnr_floors_and_final_layer_matches_the_sidecar(explained, mobilenet_v2_export):
    out, _ = mobilenet_v2_export
    sidecar = json.loads((out / "mobilenet_v2_int8.onnx.edgekit.json").read_text())["meta"]
    ev, layers = explained["evaluation"], explained["layers"]
    assert ev["chosen_by"] == "sidecar" and ev["count"] == sidecar["accuracy"]["samples"] == 39
    assert ev["sha256_of_names"] == sidecar["accuracy"]["data"]["sha256_of_names"]
    assert ev["sha256_of_names"] != sidecar["calibration"]["sha256_of_names"]
    sqnr = [l["sqnr_db"] for l in layers]
    assert explained["summary"]["median_sqnr_db"] > 17.5  # measured 20.6
    # measured 7.2 (features.15.conv.2; 16.conv.2 7.3, the features.16 add 7.4): averaged
    # min/max ranges clip those projection outputs' rare peaks, where MSE ranges gave 13.6 at
    # worst, yet the model output gained 1.4 dB (docs/int8_accuracy.md, section 5)
    assert min(sqnr) > 5.0
    assert layers[0]["sqnr_db"] > 40.0  # measured 48.1: the first conv reads the image almost exactly
    # the last layer's output is the model's output: the same figure validate put in the sidecar
    assert layers[-1]["sqnr_db"] == pytest.approx(sidecar["accuracy"]["sqnr_db"], abs=0.3)
    assert layers[-1]["cosine"] == pytest.approx(sidecar["accuracy"]["cosine_mean"], abs=1e-3)


def test_sensitivity_ranks_layers_by_what_keeping_them_float_buys(explained, mobilenet_v2_export):
    """Measured on the session export (39 held-out photos): as shipped 18.94 dB, 35/39; the best
    single layer (features.16's Add) +0.55 dB; the top 3 in float together 20.44 dB, 36/39;
    every layer in float 38.9 dB (the edit's floor: channel gains are estimated from weights)."""
    out, _ = mobilenet_v2_export
    accuracy = json.loads((out / "mobilenet_v2_int8.onnx.edgekit.json").read_text())["meta"]["accuracy"]
    sens = explained["sensitivity"]
    assert sens["int8"]["sqnr_db"] == pytest.approx(accuracy["sqnr_db"], abs=0.3)
    assert sens["int8"]["top1_agreement"] == pytest.approx(accuracy["top1_agreement"], abs=1.5 / 39)
    # the edit really restores float: 38.9 dB with 8-bit weights everywhere; 31.3 dB when the 18
    # signed-input layers had 7-bit weights (quantize/saturation.py), whose coarser integers the
    # channel-gain fit reads back less exactly (their grid is finer now: bounded pairs, weight_grid.py)
    assert sens["all_float"]["sqnr_db"] > sens["int8"]["sqnr_db"] + 9
    ranked = sens["ranked"]
    assert sorted(r["module"] for r in ranked) == sorted(l["module"] for l in explained["layers"])
    gains = [r["gain_db"] for r in ranked]
    assert gains == sorted(gains, reverse=True) and gains[0] > 0.25
    three = sens["top3_together"]
    assert three["modules"] == [r["module"] for r in ranked[:3]]
    assert three["sqnr_db"] > sens["int8"]["sqnr_db"] + 0.8
    assert three["top1_agreement"] >= sens["int8"]["top1_agreement"] - 1.5 / 39  # one near-tie photo of margin


def test_a_coarser_scale_shows_at_that_layer_and_not_before(mobilenet_v2_export, explained, tmp_path):
    """The figures come from the file: multiply one layer's output scale by 8 (three bits fewer)
    and that layer's SQNR falls (measured 20.6 -> 13.7 dB: its own rounding noise x64 on top of
    the noise it inherits) while every layer before it is unchanged."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    out, _ = mobilenet_v2_export
    dst = _copy_export(out, tmp_path / "coarse")
    model = onnx.load(str(dst / "mobilenet_v2_int8.onnx"))
    k = next(i for i, l in enumerate(explained["layers"]) if l["module"] == "features.10.conv.1.0")
    scale_name = next(n.input[1] for n in model.graph.node
                      if n.op_type == "QuantizeLinear" and n.input[0] == explained["layers"][k]["tensor"])
    for init in model.graph.initializer:
        if init.name == scale_name:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * np.float32(8), scale_name))
    onnx.save(model, str(dst / "mobilenet_v2_int8.onnx"))
    coarse = _explain(dst / "mobilenet_v2_int8.onnx", "--no-sensitivity")["layers"]
    before = [l["sqnr_db"] for l in explained["layers"]]
    assert [l["sqnr_db"] for l in coarse[:k]] == pytest.approx(before[:k], abs=0.01)
    assert coarse[k]["sqnr_db"] < before[k] - 4, (coarse[k]["sqnr_db"], before[k])


def test_data_option_takes_held_out_images_and_refuses_calibration_images(mobilenet_v2_export, photo_halves,
                                                                           explained):
    out, _ = mobilenet_v2_export
    calib, evald = photo_halves["A"]  # edgekit's own split of the session export's --calib
    doc = _explain(out / "mobilenet_v2_int8.onnx", "--data", evald, "--no-sensitivity")
    assert doc["evaluation"]["chosen_by"] == "--data" and doc["evaluation"]["count"] == 39
    assert doc["evaluation"]["calibration_overlap_checked"]
    assert [l["sqnr_db"] for l in doc["layers"]] == pytest.approx([l["sqnr_db"] for l in explained["layers"]], abs=0.01)
    assert_clean_error(run_cli("explain", out / "mobilenet_v2_int8.onnx", "--data", calib), "calibrated on")


def test_bad_input_one_line_each(mobilenet_v2_export, tmp_path):
    out, _ = mobilenet_v2_export
    assert_clean_error(run_cli("explain", out / "mobilenet_v2_fp32.onnx"), "fp32", "int8")
    third_party = tmp_path / "third_party"
    third_party.mkdir()
    shutil.copy(out / "mobilenet_v2_int8.onnx", third_party / "model_int8.onnx")  # no sidecar, no float file
    assert_clean_error(run_cli("explain", third_party / "model_int8.onnx"), "no edgekit sidecar", "edgekit inspect")
    alone = _copy_export(out, tmp_path / "alone", names=("mobilenet_v2_int8.onnx",))
    assert_clean_error(run_cli("explain", alone / "mobilenet_v2_int8.onnx"), "float file", "mobilenet_v2_fp32.onnx")
    moved = _copy_export(out, tmp_path / "moved")
    sc = moved / "mobilenet_v2_int8.onnx.edgekit.json"
    doc = json.loads(sc.read_text())
    doc["meta"]["accuracy"]["data"]["origin"] = str(tmp_path / "gone")
    sc.write_text(json.dumps(doc))
    assert_clean_error(run_cli("explain", moved / "mobilenet_v2_int8.onnx"), "--data")


def test_tflite_and_openvino_name_the_same_layers_in_the_same_order_as_onnx(explained, mobilenet_v2_export, tmp_path):
    """One `explain` of the three files: the same 64 names and ops in each format. Layers within
    3 dB of the ONNX file's SQNR: TFLite 61/64 (95%), OpenVINO 61/64 (95%); issue 9 asks for 80%.
    It was 72% and 77% while ONNX used MSE ranges and OpenVINO quantized the unprepared model: now
    all three use averaged min/max ranges on the same prepared module (docs/int8_accuracy.md,
    section 5). Median layer SQNR: ONNX 20.6, TFLite 21.1, OpenVINO 20.5 dB; final layer 20.6,
    20.6, 20.1 dB. The floor, 85% (55/64), leaves 6 layers of margin. --report writes the plot of
    SQNR along depth, one line per format, and the layer-by-layer table."""
    out, _ = mobilenet_v2_export
    proc = run_cli("explain", *(out / f"mobilenet_v2_int8{s}" for s in (".onnx", ".tflite", ".xml")),
                   "--no-sensitivity", "--json", "--report", tmp_path / "rep")
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    onnx, *others = doc["files"]
    assert [l["sqnr_db"] for l in onnx["layers"]] == pytest.approx([l["sqnr_db"] for l in explained["layers"]], abs=0.01)
    for suffix, other in zip((".tflite", ".xml"), others):
        accuracy = json.loads((out / f"mobilenet_v2_int8{suffix}.edgekit.json").read_text())["meta"]["accuracy"]
        layers = other["layers"]
        assert [(l["module"], l["op"]) for l in layers] == [(l["module"], l["op"]) for l in onnx["layers"]]
        assert other["sensitivity"] is None and other["evaluation"]["chosen_by"] == "sidecar"
        assert all(l["matched"] and l["output_quantization"] for l in layers[:-1])
        close = sum(abs(a["sqnr_db"] - b["sqnr_db"]) <= 3 for a, b in zip(layers, onnx["layers"])) / len(layers)
        assert close >= 0.85, (suffix, close)
        assert layers[0]["sqnr_db"] > 28.0  # measured 49.2 (TFLite), 32.1 (OpenVINO)
        assert layers[-1]["sqnr_db"] == pytest.approx(accuracy["sqnr_db"], abs=1.0)
    # layer by layer: one row per source layer, each format's SQNR in it
    assert len(doc["by_layer"]) == 64 and set(doc["by_layer"][5]["sqnr_db"]) == {"onnx", "tflite", "openvino"}
    page = (tmp_path / "rep" / "explain.html").read_text()
    assert "data:image/svg+xml;base64," in page and "features.15.conv.2" in page
    svg = (tmp_path / "rep" / "sqnr_along_depth.svg").read_text()
    assert svg.count("<path") > 3 and "openvino" in svg
    md = (tmp_path / "rep" / "explain.md").read_text()
    assert "tflite vs onnx:" in md and md.count("\n| features.") >= 60


def test_shufflenet_concat_and_shuffle_get_figures_not_a_traceback(tmp_path, photos_dir):
    """ShuffleNetV1's Concat of branches and channel shuffle: equalization gains are not followed
    through them, and the all-layers float edit cannot be built for that graph. Before: a
    ValueError traceback from the child process. Structural, so random weights at 48 px show it
    (about 10 s each for export and explain)."""
    out = tmp_path / "out"
    proc = run_cli("export", "shufflenet_v1_g2", "--input-size", 48, "--int8", "--format", "onnx",
                   "--calib", photos_dir, "--out", out, "--no-record")
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = _explain(out / "shufflenet_v1_g2_int8.onnx")
    assert doc["summary"]["measured"] >= 60 and all(l["sqnr_db"] == l["sqnr_db"] for l in doc["layers"] if l["matched"])
    sens = doc["sensitivity"]
    assert len(sens["ranked"]) + len(sens["not_editable"]) == doc["summary"]["measured"]
    human = run_cli("explain", out / "shufflenet_v1_g2_int8.onnx")
    assert human.returncode == 0 and "Traceback" not in human.stderr, human.stderr[-2000:]
    assert "every layer in float" in human.stdout
