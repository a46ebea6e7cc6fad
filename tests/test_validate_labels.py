"""validate/export/inspect/explain as a user sees them: interval, cosine and SQNR beside
agreement; a labelled --data folder gives accuracy and the drop; constant float outputs warn."""
from __future__ import annotations

import csv
import json
import shutil

from conftest import assert_clean_error, run_cli


def _class_folders(photo_dir, dst):
    """The labelled photos of ``photo_dir`` as DIR/<first accepted ImageNet name>/<photo>."""
    with open(photo_dir / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        name = r["accepted_names"].split(" | ")[0].replace(" ", "_")
        (dst / name).mkdir(parents=True, exist_ok=True)
        shutil.copy(photo_dir / r["file"], dst / name / r["file"].replace("/", "_"))
    return dst, len(rows)


def test_validate_on_class_folders_gives_accuracy_and_paired_drop(mobilenet_v2_export, photo_halves, tmp_path):
    """Half A's held-out photos (never calibrated on) sorted into class folders: float MobileNetV2
    measured 18/23 top-1, 22/23 top-5 with labels.csv's accepted sets (here one class each)."""
    out, _ = mobilenet_v2_export
    data, n = _class_folders(photo_halves["A"][1], tmp_path / "classes")
    proc = run_cli("validate", out / "mobilenet_v2_int8.onnx", "--data", data, "--json")
    assert proc.returncode == 0, proc.stderr
    acc = json.loads(proc.stdout)
    assert acc["labelled_samples"] == n == acc["samples"] and acc["data"]["labels"]["source"] == "class subfolders"
    assert acc["reference_top1_accuracy"] >= 0.55 and acc["reference_top5_accuracy"] >= 0.8, acc
    assert abs(acc["top1_drop_points"]) <= 25, acc  # int8 within a few photos of float
    low, high = acc["top1_drop_ci95_points"]
    assert low <= acc["top1_drop_points"] <= high and high - low > 5  # ~20 images: points of doubt
    lo, hi = acc["top1_agreement_ci95"]
    assert lo < acc["top1_agreement"] <= hi and acc["cosine_mean"] >= 0.97 and acc["sqnr_db"] > 12
    human = run_cli("validate", out / "mobilenet_v2_int8.onnx", "--data", data)
    assert human.returncode == 0, human.stderr
    for needle in ("95% CI", "cosine", "SQNR dB", "float top-1", "drop pts (95% CI)", "Newcombe"):
        assert needle in human.stdout, human.stdout


def test_unknown_class_folder_is_one_clear_line(mobilenet_v2_export, photos_dir, tmp_path):
    out, _ = mobilenet_v2_export
    for name in ("tabby", "espresso", "not_a_class"):  # most are classes: the other is a mistake
        (tmp_path / name).mkdir()
        shutil.copy(photos_dir / "skimage" / "chelsea.png", tmp_path / name / "chelsea.png")
    proc = run_cli("validate", out / "mobilenet_v2_int8.onnx", "--data", tmp_path)
    assert_clean_error(proc, "'not_a_class'", "not classes of the model", "rename")


def test_inspect_and_explain_show_the_recorded_statistics_from_any_cwd(mobilenet_v2_export, tmp_path):
    out, doc = mobilenet_v2_export
    origin = next(a for a in doc["artifacts"] if a["path"].endswith("_int8.onnx"))["meta"]["accuracy"]["data"]
    assert origin["origin"].startswith("/")  # absolute: found again from another folder
    proc = run_cli("inspect", out / "mobilenet_v2_int8.onnx", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "(sidecar)" in proc.stdout and "95% CI" in proc.stdout and "SQNR dB" in proc.stdout, proc.stdout
    proc = run_cli("explain", out / "mobilenet_v2_int8.onnx", "--no-sensitivity", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["evaluation"]["chosen_by"] == "sidecar"


def test_constant_float_outputs_warn_and_do_not_fail(tmp_path):
    """Random-init MobileNetV1 (BatchNorm at identity: logits spread ~1e-17) exported to ONNX."""
    proc = run_cli("export", "mobilenet_v1_0_25", "--format", "onnx", "--out", tmp_path, "--no-record", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    acc = json.loads(proc.stdout)["artifacts"][0]["meta"]["accuracy"]
    assert any("outputs are constant" in w for w in acc["warnings"]), acc
    proc = run_cli("validate", tmp_path / "mobilenet_v1_0_25_fp32.onnx")
    assert proc.returncode == 0, proc.stderr
    assert "warning: the float model's outputs are constant" in proc.stdout, proc.stdout
