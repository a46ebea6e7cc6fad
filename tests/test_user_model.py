"""A user's own model: TorchScript / torch.export files and module:factory, and every error."""
from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

from edgekit.errors import ConfigError, WeightsError  # noqa: E402
from edgekit.zoo.user_model import card_from_options, load_user_model  # noqa: E402

HERE = Path(__file__).resolve().parent


@pytest.fixture
def tiny():
    import user_model_factories  # noqa: F401  (on sys.path through the fixture below)

    torch.manual_seed(0)
    return user_model_factories.build_tiny().eval()


@pytest.fixture(autouse=True)
def factories_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))


def _card(**kw):
    return card_from_options("mine", input_size=32, **kw)


def _x():
    return torch.randn(1, 3, 32, 32)


def _one_line(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg and len(msg) < 400
    return msg


def test_card_from_options():
    card = card_from_options("mine", input_size=160, mean=[127.5], std=(127.5, 127.5, 127.5),
                             color="bgr", num_classes=3)
    assert card.family == "user" and card.classes == "" and not card.torchvision_compatible
    assert card.input_shape == (1, 3, 160, 160) and card.num_classes == 3
    assert card.preprocess.resize == round(160 / 0.875) and card.preprocess.mean == (127.5,) * 3
    assert card.preprocess.color == "BGR"
    assert card_from_options("m", crop=128, input_size=128, resize=128).preprocess.resize == 128
    assert card_from_options("m", crop=96).input_shape == (1, 3, 96, 96)
    assert card_from_options("m").input_shape == (1, 3, 224, 224)
    assert card_from_options("m").num_classes == 0  # unknown until loaded


@pytest.mark.parametrize("kw, match", [
    ({"crop": 100}, "crop 100 differs from input size 32"),
    ({"mean": [1, 2]}, "mean needs 1 or 3 values"),
    ({"std": [0, 1, 1]}, "std > 0"),
    ({"color": "HSV"}, "RGB or BGR"),
    ({"num_classes": 0}, "num_classes must be >= 1"),
])
def test_card_errors(kw, match):
    with pytest.raises(ConfigError, match=match) as e:
        _card(**kw)
    _one_line(e)


def test_torchscript_round_trip(tmp_path, tiny):
    path = tmp_path / "tiny.pt"
    torch.jit.script(tiny).save(str(path))
    loaded = load_user_model(str(path), _card(), trust_code=True)  # TorchScript is code: only when trusted
    assert loaded.card.num_classes == 5  # inferred with one forward pass
    assert loaded.notes["user_model_kind"] == "torchscript"
    assert loaded.weights_path == str(path) and len(loaded.weights_sha256) == 64
    x = _x()
    with torch.no_grad():
        assert torch.allclose(loaded.module(x), tiny(x), atol=1e-6)
    assert loaded.provenance()["user_model"] == str(path)


def test_exported_program_round_trip(tmp_path, tiny):
    path = tmp_path / "tiny.pt2"
    torch.export.save(torch.export.export(tiny, (_x(),)), str(path))
    loaded = load_user_model(str(path), _card(num_classes=5))
    assert loaded.notes["user_model_kind"] == "exported_program"
    x = _x()
    with torch.no_grad():
        assert torch.allclose(loaded.module(x), tiny(x), atol=1e-6)
    with pytest.raises(ConfigError, match="failed on a 1x3x64x64 input") as e:
        load_user_model(str(path), card_from_options("mine", input_size=64))  # exported for 32x32
    _one_line(e)


def test_factory():
    loaded = load_user_model("user_model_factories:build_tiny", _card())
    assert loaded.notes["user_model_kind"] == "factory" and loaded.weights_path is None
    assert not loaded.module.training and loaded.card.num_classes == 5


@pytest.mark.parametrize("spec, error, match", [
    ("no_such_module_xyz:build", ConfigError, "Cannot import module 'no_such_module_xyz'"),
    ("user_model_factories:no_such", ConfigError, "has no factory 'no_such'.*build_tiny"),
    ("user_model_factories:NOT_CALLABLE", ConfigError, r"is not callable \(it is a int\)"),
    ("user_model_factories:not_a_module", ConfigError, "returned a dict, not a torch.nn.Module"),
    ("user_model_factories:needs_arguments", ConfigError, "raised TypeError"),
])
def test_factory_errors(spec, error, match):
    with pytest.raises(error, match=match) as e:
        load_user_model(spec, _card())
    _one_line(e)


def test_file_errors(tmp_path, tiny):
    with pytest.raises(WeightsError, match="does not exist") as e:
        load_user_model(str(tmp_path / "missing.pt"), _card())
    _one_line(e)

    with pytest.raises(WeightsError, match="is a directory") as e:
        load_user_model(str(tmp_path), _card())
    _one_line(e)

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(WeightsError, match="not a TorchScript or torch.export model .not a zip archive") as e:
        load_user_model(str(junk), _card())
    _one_line(e)

    pickled = tmp_path / "pickled.pt"
    torch.save(tiny, pickled)  # a whole pickled module: never unpickled
    with pytest.raises(WeightsError, match="pickled torch.save.model.: unpickling it runs code") as e:
        load_user_model(str(pickled), _card())
    _one_line(e)

    weights = tmp_path / "weights.pth"
    torch.save(tiny.state_dict(), weights)
    with pytest.raises(WeightsError, match="holds only weights") as e:
        load_user_model(str(weights), _card())
    _one_line(e)
