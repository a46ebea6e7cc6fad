"""Bounded fuzzing (hypothesis), in CI: mutated .onnx, .tflite, OpenVINO .xml/.bin and sidecars
through the code `inspect` and `validate` run, and a few through the real CLI: a result or one
clean line, never a traceback; a parser or runtime that crashes on a file is contained in a
child process and reported in one line. The long campaign is benchmarks/fuzz_campaign.py."""
from __future__ import annotations

import random
import shutil

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from conftest import assert_clean_error, run_cli  # noqa: E402
from fuzz_support import Worker, mutate_bytes, mutate_sidecar  # noqa: E402

FUZZ = settings(max_examples=8, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
SUFFIX = {"onnx": ".onnx", "tflite": ".tflite", "openvino": ".xml"}


@pytest.fixture(scope="module")
def seeds(mobilenet_v2_export):
    """The session's real exports (every format, fp32 and int8, with sidecars)."""
    out, _ = mobilenet_v2_export
    found = {fmt: sorted(out.glob(f"mobilenet_v2_*{ext}")) for fmt, ext in SUFFIX.items()}
    return {fmt: [p for p in paths if p.with_name(p.name + ".edgekit.json").is_file()]
            for fmt, paths in found.items() if paths}


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


def _mutant(seed, folder, rng: random.Random, sidecar: bool = False):
    folder.mkdir(parents=True, exist_ok=True)
    for f in folder.iterdir():
        f.unlink()
    side = seed.with_name(seed.name + ".edgekit.json")
    for f in [seed, side] + ([seed.with_suffix(".bin")] if seed.suffix == ".xml" else []):
        shutil.copy(f, folder / f.name)
    if sidecar:
        (folder / side.name).write_text(mutate_sidecar(side.read_text(), rng))
    else:
        victim = folder / (seed.with_suffix(".bin").name if seed.suffix == ".xml" and rng.random() < 0.5
                           else seed.name)
        victim.write_bytes(mutate_bytes(victim.read_bytes(), rng))
    return folder / seed.name


def _check(outcome: dict) -> None:
    assert outcome["outcome"] in ("result", "error", "crash"), outcome  # a crash: the worker's (a child's)
    if outcome["outcome"] == "error":
        assert "\n" not in outcome["detail"].strip(), outcome


@pytest.mark.parametrize("fmt, op", [("onnx", "inspect"), ("tflite", "inspect"), ("onnx", "validate-file"),
                                     ("tflite", "validate-file"), ("openvino", "validate-file")])
@FUZZ
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_mutated_model_files(seeds, worker, tmp_path_factory, fmt, op, seed):
    if fmt not in seeds:
        pytest.skip(f"no {fmt} export in this environment")
    rng = random.Random(seed)
    original = rng.choice(seeds[fmt])
    path = _mutant(original, tmp_path_factory.getbasetemp() / f"fuzz-{fmt}-{op}", rng)
    _check(worker.run({"op": op, "path": str(path), "seed": str(original), "images": 2}))


@FUZZ
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_mutated_sidecars(seeds, worker, tmp_path_factory, seed):
    rng = random.Random(seed)
    pool = [p for ps in seeds.values() for p in ps]
    path = _mutant(rng.choice(pool), tmp_path_factory.getbasetemp() / "fuzz-sidecar", rng, sidecar=True)
    _check(worker.run({"op": "validate-sidecar", "path": str(path)}))


def test_mutants_through_the_cli(seeds, tmp_path):
    """A few mutants end to end: `inspect`, `validate`, `bench` give a result or one error line."""
    rng = random.Random(14)
    bench = ["--min-runs", "2", "--min-seconds", "0", "--warmup-seconds", "0", "--processes", "1", "--no-record"]
    for fmt, command, extra in (("onnx", "inspect", []), ("tflite", "inspect", []), ("openvino", "validate", []),
                                ("tflite", "bench", bench)):
        if fmt not in seeds:
            continue
        path = _mutant(seeds[fmt][-1], tmp_path / fmt, rng)
        proc = run_cli(command, path, *extra, timeout=600)
        assert "Traceback" not in proc.stderr and proc.returncode >= 0, proc.stderr[-2000:]
        if proc.returncode:
            assert_clean_error(proc)


def test_what_the_campaign_found(seeds, tmp_path):
    """Mutants behind the campaign's tracebacks, replayed through the CLI: an ONNX operator type
    that is not UTF-8 (inspect sorted str with bytes) and a sidecar naming a 5000-character path."""
    import json

    onnx_seed = seeds["onnx"][0]
    data = onnx_seed.read_bytes()
    i = data.index(b"Conv")
    bad = tmp_path / "bad_name.onnx"
    bad.write_bytes(data[:i] + b"C\xffnv" + data[i + 4:])
    assert_clean_error(run_cli("inspect", bad), "damaged onnx model", "not utf-8 text")
    folder = tmp_path / "side"
    path = _mutant(onnx_seed, folder, random.Random(0), sidecar=False)
    shutil.copy(onnx_seed, path)  # the model intact, the sidecar edited
    side = path.with_name(path.name + ".edgekit.json")
    doc = json.loads(side.read_text())
    doc["source"]["weights"] = "x" * 5000
    side.write_text(json.dumps(doc))
    assert_clean_error(run_cli("validate", path), "file name too long", "5000 characters")


def test_a_crash_in_the_child_is_one_line():
    """What a native crash in a parser looks like from the CLI's side (_contained.call)."""
    from edgekit._contained import call
    from edgekit.errors import EdgekitError

    with pytest.raises(EdgekitError, match=r"crashed \(SIGABRT\) in a process of its own") as e:
        call("os:abort", what="reading 'x.onnx'")
    assert "\n" not in str(e.value)
