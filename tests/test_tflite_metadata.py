"""TFLite Metadata written by edgekit, read back with the generated reader of the published schema
(tests/vendor) and with edgekit's own reader: what was put in is what apps read."""
from __future__ import annotations

import io
import zipfile
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from edgekit.data import ImageSet  # noqa: E402
from edgekit.export import EXPORTERS, ExportRequest  # noqa: E402
from edgekit.formats.tflite_metadata import build_metadata, metadata_buffer, populate, read_metadata  # noqa: E402
from edgekit.inspect.tflite_inspect import inspect_tflite  # noqa: E402
from edgekit.quantize import QuantConfig  # noqa: E402
from edgekit.zoo import get_model  # noqa: E402
from vendor.tflite_metadata_schema import (AssociatedFileType, ColorSpaceType, ContentProperties,  # noqa: E402
                                           ImageProperties, ModelMetadata, NormalizationOptions,
                                           ProcessUnitOptions)

SIZE = 48


def _export(name, tmp_path, precision="fp32", **pre):
    loaded = get_model(name)
    loaded.card = replace(loaded.card, preprocess=replace(loaded.card.preprocess, crop=SIZE, resize=56, **pre))
    calib = ImageSet(np.random.default_rng(0).standard_normal((2, 3, SIZE, SIZE)).astype(np.float32), ["a", "b"])
    return EXPORTERS.get("tflite").export(ExportRequest(loaded, tmp_path, precision, calibration=calib,
                                                        quant=QuantConfig(samples=2))), loaded.card


def _official(data: bytes):
    buf = metadata_buffer(data)
    assert ModelMetadata.ModelMetadataBufferHasIdentifier(buf, 0)
    return ModelMetadata.GetRootAs(buf, 0)


def test_zoo_export_carries_labels_and_normalization(tmp_path):
    art, card = _export("mobilenet_v3_small", tmp_path, "int8")
    data = art.path.read_bytes()
    md = _official(data)
    assert md.Name().decode() == "mobilenet_v3_small"
    assert md.Description().decode() == card.description
    assert md.MinParserVersion().decode() == "1.0.0"
    sg = md.SubgraphMetadata(0)
    assert sg.InputTensorMetadataLength() == 1 and sg.OutputTensorMetadataLength() == 1
    image = sg.InputTensorMetadata(0)
    assert image.Content().ContentPropertiesType() == ContentProperties.ImageProperties
    props = ImageProperties()
    props.Init(image.Content().ContentProperties().Bytes, image.Content().ContentProperties().Pos)
    assert props.ColorSpace() == ColorSpaceType.RGB
    assert (props.DefaultSize().Width(), props.DefaultSize().Height()) == (SIZE, SIZE)
    unit = image.ProcessUnits(0)
    assert unit.OptionsType() == ProcessUnitOptions.NormalizationOptions
    norm = NormalizationOptions()
    norm.Init(unit.Options().Bytes, unit.Options().Pos)
    np.testing.assert_allclose(norm.MeanAsNumpy(), card.preprocess.mean, rtol=1e-6)
    np.testing.assert_allclose(norm.StdAsNumpy(), card.preprocess.std, rtol=1e-6)
    labels_file = sg.OutputTensorMetadata(0).AssociatedFiles(0)
    assert labels_file.Type() == AssociatedFileType.TENSOR_AXIS_LABELS
    with zipfile.ZipFile(io.BytesIO(data)) as zf:  # associated files: a zip appended to the model
        labels = zf.read(labels_file.Name().decode()).decode().splitlines()
    from importlib import resources

    expected = resources.files("edgekit.data").joinpath("imagenet1k_labels.txt").read_text().splitlines()
    assert labels == expected and len(labels) == 1000 and labels[285] == "Egyptian cat"
    ours = read_metadata(data)  # edgekit's reader agrees
    assert ours["labels"] == expected
    assert ours["inputs"][0]["normalization"]["mean"] == pytest.approx(card.preprocess.mean)
    # still a valid model for the runtime, with the I/O names apps see
    report = inspect_tflite(art.path)
    assert report["metadata"]["tflite_metadata"]["labels"] == 1000
    assert [t["name"] for t in report["inputs"] + report["outputs"]] == ["input", "logits"]


def test_bgr_model_says_so(tmp_path):
    art, card = _export("shufflenet_v1_g3", tmp_path)
    md = read_metadata(art.path.read_bytes())
    image = md["inputs"][0]
    assert card.preprocess.color == "BGR"
    assert image["content"]["color_space"] == "UNKNOWN"  # the schema has no BGR
    assert "BGR" in image["description"]
    assert image["normalization"] == {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}


def test_metadata_roundtrip_without_labels(tmp_path):
    art, _ = _export("squeezenet1_1", tmp_path)
    model = art.path.read_bytes()
    bare = model[:model.rfind(b"PK\x05\x06")] if b"PK\x05\x06" in model else model
    meta = build_metadata("m", "d", "1", "me", "MIT", 48, "RGB", (1.0, 2.0, 3.0), (4.0, 5.0, 6.0), None, 7)
    out = populate(bare, meta, {})
    md = read_metadata(out)
    assert md["labels"] is None and md["packed_files"] == []
    assert md["inputs"][0]["normalization"] == {"mean": [1.0, 2.0, 3.0], "std": [4.0, 5.0, 6.0]}
    official = _official(out)
    assert official.Author().decode() == "me" and official.License().decode() == "MIT"
