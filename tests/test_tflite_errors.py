"""Bad input around .keras / .tflite files: one `error:` line, non-zero exit, no traceback, no partial file."""
from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")

from conftest import assert_clean_error, run_cli  # noqa: E402


def _files(d):
    return sorted(p.name for p in d.rglob("*") if p.is_file()) if d.exists() else []


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    """A good tiny .keras model, one whose LayerNormalization has an op without int8 kernel."""
    from edgekit._optional import import_tf

    import_tf()
    import keras

    d = tmp_path_factory.mktemp("keras")
    for name, norm in (("plain", False), ("layernorm", True)):
        inp = keras.Input((32, 32, 3))
        x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inp)
        if norm:
            x = keras.layers.LayerNormalization(name="norm")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        keras.Model(inp, keras.layers.Dense(10, name="head")(x)).save(d / f"{name}.keras")
    return d


def test_corrupt_keras_file(keras_files, tmp_path):
    bad = tmp_path / "model.keras"
    bad.write_bytes((keras_files / "plain.keras").read_bytes()[:3000])
    proc = run_cli("export", bad, "--format", "tflite", "--out", tmp_path / "o", "--no-record")
    assert_clean_error(proc, "corrupt", "model.keras")
    assert _files(tmp_path / "o") == []


def test_op_without_int8_kernel_names_op_layer_and_fallback(keras_files, tmp_path):
    out = tmp_path / "o"
    proc = run_cli("export", keras_files / "layernorm.keras", "--format", "tflite", "--int8", "--out", out,
                   "--no-record")
    line = assert_clean_error(proc, "NEG", "'norm'", "--float-fallback")
    assert "int8" in line
    assert "layernorm_int8.tflite" not in _files(out) and not [f for f in _files(out) if f.endswith(".part")]


def test_float_fallback_keeps_the_op_in_float(keras_files, tmp_path):
    from edgekit.export import EXPORTERS, ExportRequest
    from edgekit.export.tflite_export import TfliteOptions
    from edgekit.pipeline import load_data, DataOptions
    from edgekit.quantize import QuantConfig
    from edgekit.zoo.keras.user_model import load_keras_user_model
    from edgekit.zoo.user_model import card_from_options

    loaded = load_keras_user_model(str(keras_files / "layernorm.keras"), card_from_options("ln", input_size=32))
    calib, _ = load_data(loaded.card, DataOptions(), False, [], lambda m: None)
    art = EXPORTERS.get("tflite").export(ExportRequest(
        loaded, tmp_path, "int8", calibration=calib, quant=QuantConfig(samples=4),
        options=TfliteOptions(float_fallback=True)))
    floats = art.meta["inspect"]["float_ops"]
    assert {f["op"] for f in floats} == {"NEG"} and {f["layer"] for f in floats} == {"norm"}
    assert art.meta["inspect"]["verdict"]["precision"] == "mixed"


def test_not_a_flatbuffer_to_inspect(tmp_path):
    bad = tmp_path / "model.tflite"
    bad.write_text("this is not a model\n" * 10)
    assert_clean_error(run_cli("inspect", bad), "not a TFLite flatbuffer")
    trunc = tmp_path / "trunc.tflite"
    trunc.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\xff" * 24)
    assert_clean_error(run_cli("inspect", trunc), "corrupt")


def test_corrupt_tflite_to_validate(tmp_path):
    from tflite_helpers import small_export

    art = small_export(tmp_path)
    art.path.write_bytes(art.path.read_bytes()[:5000])  # truncated, sidecar still there
    assert_clean_error(run_cli("validate", art.path), art.path.name)


def test_custom_op_to_validate(tmp_path):
    from tflite_helpers import small_export, with_custom_op

    art = small_export(tmp_path / "a")
    custom = with_custom_op(art.path, tmp_path / "custom.tflite")
    assert_clean_error(run_cli("validate", custom), "custom operator", "EdgekitTestOp")
