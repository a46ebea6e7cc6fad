"""TFLite int8 with chosen layers kept float (QuantConfig.exclude, named as `edgekit explain`
names layers): real MobileNetV2 weights, calibrated on edgekit's calibration half of the photos,
judged on the held-out half. One int8-prepared model and one Keras twin serve both files (the
exporter caches the twin), so pure int8 and the file with float layers differ only in the
exclusions."""
from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorflow")

from edgekit.errors import ConfigError, UnsupportedError  # noqa: E402
from edgekit.export import ExportRequest  # noqa: E402
from edgekit.export.tflite_export import TfliteExporter  # noqa: E402
from edgekit.inspect.tflite_inspect import inspect_tflite  # noqa: E402
from edgekit.inspect.tflite_layers import module_of  # noqa: E402
from edgekit.quantize import QuantConfig  # noqa: E402

# block 16's residual Add, block 15's, and block 14's projection conv (explain's low-SQNR end)
EXCLUDED = ("features.16", "features.15", "features.14.conv.2")


@pytest.fixture(scope="module")
def exports(tmp_path_factory, mobilenet_v2_weights, photos_dir):
    """{"pure"/"kept": (artifact, validate figures)}, plus the exporter and request to reuse."""
    from edgekit.data import load_image_set, split_calibration_eval
    from edgekit.pipeline.prepare import fold
    from edgekit.quantize.prepare import prepare_for_int8
    from edgekit.runtime_bench.reference_engine import reference_engine
    from edgekit.runtime_bench.validate import validate_outputs
    from edgekit.zoo import get_model

    loaded = get_model("mobilenet_v2", mobilenet_v2_weights)
    calib, evalset = split_calibration_eval(load_image_set(photos_dir, loaded.card.preprocess), 0.5)
    folded, _ = fold(loaded, lambda m: None)
    reference = reference_engine(folded).run(evalset.arrays)
    prepared, prep = prepare_for_int8(folded.module, calib.arrays, folded.card.input_shape)
    exporter = TfliteExporter()
    root = tmp_path_factory.mktemp("tflite_exclude")
    base = ExportRequest(folded, root, "int8", calibration=calib, int8_module=prepared, int8_preparation=prep)
    out = {}
    for name, exclude in (("pure", ()), ("kept", EXCLUDED)):
        (root / name).mkdir()
        art = exporter.export(replace(base, out_dir=root / name, quant=QuantConfig(exclude=exclude)))
        out[name] = (art, validate_outputs(reference, art.path, evalset))
    return out, exporter, base


def _compute(report):
    return {module_of(c["output"]) or c["op"]: c for c in report["compute_ops"]}


def test_excluded_layers_are_float_in_the_file_and_the_rest_int8(exports):
    art, _ = exports[0]["kept"]
    report = inspect_tflite(art.path)  # reads the flatbuffer; the sidecar only names the intent
    compute = _compute(report)
    assert compute["features.14.conv.2"]["input"] == "FLOAT32" and compute["features.14.conv.2"]["weights"] == "FLOAT32"
    others = [c for m, c in compute.items() if m != "features.14.conv.2"]
    assert len(others) == 52 and all(c["input"] == "INT8" and c["weights"] == "INT8" for c in others)
    floats = {(f["op"], module_of(f["output"])) for f in report["float_ops"]}
    assert floats == {("CONV_2D", "features.14.conv.2"), ("ADD", "features.15"), ("ADD", "features.16")}
    assert [t["dtype"] for t in report["inputs"] + report["outputs"]] == ["INT8", "INT8"]
    assert report["operators"]["DEQUANTIZE"] >= 1 and report["operators"]["QUANTIZE"] >= 1  # around the islands
    v = report["verdict"]
    assert v["precision"] == "int8 with float layers" and not v["fully_int8"]
    assert v["kept_float_layers"] == ["features.14.conv.2", "features.15", "features.16"]
    assert "3 layers kept float" in v["summary"]
    q = art.meta["quantization"]
    assert q["excluded_layers"] == list(EXCLUDED) and [op["op"] for op in q["kept_float"]["features.16"]] == ["ADD"]
    assert art.meta["inspect"]["verdict"]["precision"] == "int8 with float layers"


def test_without_its_sidecar_the_file_is_called_mixed(exports, tmp_path):
    """A file whose sidecar is gone is judged on its ops alone: float ops nobody asked for."""
    art, _ = exports[0]["kept"]
    bare = shutil.copy(art.path, tmp_path / "third_party.tflite")
    v = inspect_tflite(bare)["verdict"]
    assert v["precision"] == "mixed" and "3 ops run in float" in v["summary"] and "features.14" in v["summary"]


def test_ranges_and_bias_correction_still_apply_to_the_int8_layers(exports):
    (pure, _), (kept, _) = exports[0]["pure"], exports[0]["kept"]
    qp, qk = pure.meta["quantization"], kept.meta["quantization"]
    assert qp["ranges_set"] == qk["ranges_set"]
    assert int(qp["bias_correction"].split()[0]) == int(qk["bias_correction"].split()[0]) + 1  # one conv is float
    scales = {}
    for name, art in (("pure", pure), ("kept", kept)):
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=str(art.path))
        scales[name] = {d["name"]: d["quantization"] for d in it.get_tensor_details() if "features.1" in d["name"]
                        and "features.1" == module_of(d["name"]).rsplit(".conv", 1)[0]}
    assert scales["pure"] and scales["pure"] == scales["kept"]  # block 1, before the island: same int8 grid


def test_accuracy_is_not_worse_than_pure_int8(exports):
    (_, pure), (_, kept) = exports[0]["pure"], exports[0]["kept"]
    n = pure["samples"]
    assert kept["sqnr_db"] >= pure["sqnr_db"] - 0.5, (kept["sqnr_db"], pure["sqnr_db"])
    assert kept["cosine_mean"] >= pure["cosine_mean"] - 0.001
    assert round(kept["top1_agreement"] * n) >= round(pure["top1_agreement"] * n) - 3, (kept, pure)


def test_unknown_layer_name_is_one_line_naming_valid_ones(exports):
    _, exporter, base = exports
    with pytest.raises(ConfigError) as err:
        exporter.export(replace(base, quant=QuantConfig(exclude=("features.14", "features.99"))))
    msg = str(err.value)
    assert "\n" not in msg and "'features.14'" in msg and "features.0.0" in msg and "classifier.1" in msg
    assert "explain" in msg


def test_int16x8_refuses_exclusions_before_work():
    with pytest.raises(UnsupportedError, match="whole-model"):
        TfliteExporter().check("torch", "int16x8", QuantConfig(exclude=("features.16",)))
    TfliteExporter().check("torch", "int8", QuantConfig(exclude=("features.16",)))  # offered


def test_litert_torch_route_refuses_exclusions(tmp_path):
    """A torch module without a Keras twin goes through litert-torch, which keeps no layer float."""
    from edgekit.data import ImageSet
    from edgekit.zoo.loaded import LoadedModel
    from edgekit.zoo.user_model import card_from_options

    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    loaded = LoadedModel(card_from_options("mine", input_size=16, num_classes=4), module.eval())
    calib = ImageSet(np.zeros((2, 3, 16, 16), np.float32), ["a", "b"])
    req = ExportRequest(loaded, tmp_path, "int8", calibration=calib, quant=QuantConfig(exclude=("0",)))
    if __import__("importlib").util.find_spec("litert_torch") is None:
        pytest.skip("litert-torch not installed (the route names its extra first)")
    with pytest.raises(UnsupportedError) as err:
        TfliteExporter().export(req)
    assert "\n" not in str(err.value) and "litert-torch" in str(err.value) and "no per-layer" in str(err.value)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("io", ["float32", "uint8"])
def test_first_and_last_layers_kept_float_with_each_io_type(tmp_path, io):
    """The file's ends float (and a layer named by its fused ReLU6): I/O still as asked. Random
    weights at 48 px: this checks the graph's structure, the accuracy is the test above's."""
    from edgekit.data import ImageSet
    from edgekit.export.tflite_export import TfliteOptions
    from edgekit.pipeline.prepare import fold
    from edgekit.zoo import get_model

    torch.manual_seed(0)
    loaded = get_model("mobilenet_v2")
    loaded.card = replace(loaded.card, preprocess=replace(loaded.card.preprocess, crop=48, resize=56))
    loaded, _ = fold(loaded, lambda m: None)
    calib = ImageSet(np.random.default_rng(0).standard_normal((4, 3, 48, 48)).astype(np.float32), list("abcd"))
    asked = ("features.0.0", "features.1.conv.0.2", "classifier.1")
    art = TfliteExporter().export(ExportRequest(loaded, tmp_path, "int8", calibration=calib,
                                                quant=QuantConfig(samples=4, exclude=asked),
                                                options=TfliteOptions(io_dtype=io)))
    report = inspect_tflite(art.path)
    assert [t["dtype"] for t in report["inputs"] + report["outputs"]] == [io.upper()] * 2
    floats = {(f["op"], f["module"]) for f in report["float_ops"]}
    assert floats == {("PAD", "features.0.0"), ("CONV_2D", "features.0.0"),
                      ("DEPTHWISE_CONV_2D", "features.1.conv.0.0"), ("FULLY_CONNECTED", "classifier.1")}
    assert sum(c["input"] == "INT8" for c in report["compute_ops"]) == 50
    assert report["verdict"]["precision"] == "int8 with float layers"
    assert report["verdict"]["kept_float_layers"] == list(asked)
