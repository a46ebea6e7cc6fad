"""Model files are data: a payload in a .pt2, TorchScript, pickled module, .keras/.h5 Lambda
or SavedModel never runs without --trust-model-code.

Where a payload is live (the format's own loader runs it: three of the .pt2 payloads,
TorchScript, the SavedModel), a test shows it running under the trusted path, so the refusal is
not a file that would have failed anyway. The other three .pt2 payloads sit where torch
interprets the archive (a shape expression it evaluates, an operator that maps files, a target
resolved by getattr); torch 2.13 happens to reject these particular files later, edgekit's
allow-list refuses them before torch reads them.
"""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

import model_payloads as payloads  # noqa: E402
from conftest import assert_clean_error, run_cli  # noqa: E402
from edgekit.errors import UntrustedCodeError  # noqa: E402
from edgekit.zoo.user_model import card_from_options, load_user_model  # noqa: E402

CARD = card_from_options("m", input_size=16)


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "payload-marker"


@pytest.fixture(scope="module")
def pt2_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pt2")
    marker = folder / "payload-marker"
    return payloads.pt2_payloads(folder, marker), marker


def test_a_clean_pt2_loads_and_matches_the_module(tmp_path):
    path = payloads.good_pt2(tmp_path)
    loaded = load_user_model(str(path), CARD)
    x = torch.randn(1, 3, 16, 16)  # exported with a static batch of 1
    with torch.no_grad():
        assert torch.allclose(loaded.module(x), payloads.tiny_torch()(x), atol=1e-6)
    assert loaded.notes["user_model_kind"] == "exported_program"


@pytest.mark.parametrize("name", ["pickled_weight", "pickled_sample_inputs", "exec_guards", "sympy_expression",
                                  "file_writing_operator", "python_callable_target"])
def test_pt2_payloads_never_run(pt2_files, name):
    files, marker = pt2_files
    marker.unlink(missing_ok=True)
    try:
        loaded = load_user_model(str(files[name]), CARD)
    except UntrustedCodeError as exc:
        assert "\n" not in str(exc) and "--trust-model-code" in str(exc)
    else:  # only the guards payload loads: its code is dropped, never exec'd
        assert name == "exec_guards"
        loaded.module(torch.zeros(1, 3, 16, 16))
    assert not marker.exists(), f"the {name} payload ran"


@pytest.mark.parametrize("name", ["pickled_weight", "pickled_sample_inputs", "exec_guards"])
def test_pt2_payloads_are_live_under_plain_torch(pt2_files, name):
    """The same files under torch.export.load, which --trust-model-code uses: the code runs."""
    files, marker = pt2_files
    marker.unlink(missing_ok=True)
    try:
        torch.export.load(str(files[name])).module()(torch.zeros(1, 3, 16, 16))  # guards run in forward
    except Exception:
        pass  # the payload replaces a tensor, so torch fails after running it
    assert marker.exists()


def test_pt2_payload_refused_by_the_cli(pt2_files):
    files, marker = pt2_files
    marker.unlink(missing_ok=True)
    proc = run_cli("summary", files["pickled_weight"], "--input-size", "16")
    assert_clean_error(proc, "refused", "pickle", "--trust-model-code")
    assert not marker.exists()


def test_torchscript_is_refused_without_the_flag_and_runs_with_it(tmp_path, marker):
    path = payloads.torchscript_payload(tmp_path, marker)
    proc = run_cli("export", path, "--input-size", "16", "--format", "onnx", "--out", tmp_path / "out")
    assert_clean_error(proc, "TorchScript", "--trust-model-code")
    assert not payloads.torchscript_ran(marker) and not (tmp_path / "out").exists()
    proc = run_cli("summary", path, "--input-size", "16", "--trust-model-code")
    assert proc.returncode == 0, proc.stderr
    assert payloads.torchscript_ran(marker)  # torch.jit.load ran __setstate__: the payload is real


def test_pickled_whole_module_is_refused(tmp_path, marker):
    path = payloads.pickled_module_payload(tmp_path, marker)
    assert_clean_error(run_cli("summary", path, "--input-size", "16"), "pickled", "--trust-model-code")
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["keras", "h5"])
def test_keras_lambda_is_refused_before_keras_reads_the_file(tmp_path, marker, kind):
    pytest.importorskip("tensorflow")
    path = payloads.keras_lambda_payloads(tmp_path, marker)[kind]
    marker.unlink(missing_ok=True)
    proc = run_cli("export", path, "--format", "tflite", "--out", tmp_path / "out")
    assert_clean_error(proc, "Lambda", "--trust-model-code")
    assert not marker.exists()


def test_saved_model_needs_the_flag(tmp_path, marker):
    pytest.importorskip("tensorflow")
    from edgekit.zoo.keras.user_model import load_keras_user_model

    path = payloads.saved_model_payload(tmp_path, marker)
    proc = run_cli("export", path, "--input-size", "16", "--format", "tflite", "--out", tmp_path / "out")
    assert_clean_error(proc, "SavedModel", "--trust-model-code")
    assert not marker.exists()
    loaded = load_keras_user_model(str(path), CARD, trust_code=True)
    loaded.module(torch.zeros(1, 16, 16, 3).numpy())
    assert marker.exists()  # the graph's WriteFile op ran: the payload is real


def test_a_sidecar_naming_a_factory_needs_the_flag_to_rebuild_it(tmp_path, monkeypatch):
    """validate rebuilds the float model from what the sidecar names; a factory is code."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    out = tmp_path / "out"
    proc = run_cli("export", "user_model_factories:build_tiny", "--input-size", "32", "--format", "onnx",
                   "--out", out, env={"PYTHONPATH": str(here)})
    assert proc.returncode == 0, proc.stderr
    onnx_file = next(out.glob("*.onnx"))
    assert_clean_error(run_cli("validate", onnx_file, env={"PYTHONPATH": str(here)}),
                       "user_model_factories:build_tiny", "--trust-model-code")
    proc = run_cli("validate", onnx_file, "--trust-model-code", "--json", env={"PYTHONPATH": str(here)})
    assert proc.returncode == 0, proc.stderr
