"""Zoo tests, driven by the registry: every registered model is built, run and round-tripped."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgekit.errors import UnknownNameError  # noqa: E402
from edgekit.zoo import MODELS, get_model, list_models  # noqa: E402

SMALL = 64  # every model must run at small sizes; tests stay fast on 2 cores
ALL = list_models()


@pytest.fixture(scope="module")
def built():
    """One random-init instance per model, shared by the tests of this module."""
    cache: dict = {}

    def get(name):
        if name not in cache:
            torch.manual_seed(0)
            cache[name] = get_model(name).module
        return cache[name]

    return get


def test_registry_has_the_families():
    expected = {"mobilenet_v1", "mobilenet_v1_0_5", "mobilenet_v1_0_25", "mobilenet_v2",
                "mobilenet_v3_small", "mobilenet_v3_large", "squeezenet1_0", "squeezenet1_1",
                "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v1_g2", "shufflenet_v1_g3",
                "xception", "xception_os8"}
    assert expected <= set(ALL)


def test_unknown_model_suggests_a_name():
    with pytest.raises(UnknownNameError, match="Did you mean 'mobilenet_v3_small'"):
        get_model("mobilenet_v3_smal")


@pytest.mark.parametrize("name", ALL)
def test_card_is_complete(name):
    card = MODELS.get(name)
    assert card.name == name and card.family and card.builder is not None
    assert card.source and card.license and card.description
    assert card.classes == "imagenet1k" and card.num_classes == 1000
    assert card.input_shape[:2] == (1, 3) and card.preprocess.resize >= card.preprocess.crop
    assert type(card).from_dict(card.to_dict()) == card


@pytest.mark.parametrize("name", ALL)
def test_forward_small_input(name, built):
    model = built(name)
    assert not model.training
    with torch.no_grad():
        y = model(torch.randn(2, 3, SMALL, SMALL))
    assert y.shape == (2, MODELS.get(name).num_classes)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", ALL)
def test_reference_params(name, built):
    ref = MODELS.get(name).reference_params
    if ref is None:
        pytest.skip("no reference implementation count for this model")
    assert sum(p.numel() for p in built(name).parameters()) == ref


@pytest.mark.parametrize("name", ALL)
def test_state_dict_round_trip_strict(name, built):
    model = built(name)
    with torch.device("meta"):  # no memory, no init: the copy's values all come from the state_dict
        other = MODELS.get(name).builder().eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    other.load_state_dict(state, strict=True, assign=True)
    x = torch.randn(1, 3, SMALL, SMALL)
    with torch.no_grad():
        assert torch.equal(other(x), model(x))


@pytest.mark.parametrize("name", ALL)
def test_custom_class_count(name):
    with torch.device("meta"):  # shapes only: no compute
        model = MODELS.get(name).builder(num_classes=7).eval()
        assert model(torch.empty(2, 3, SMALL, SMALL)).shape == (2, 7)


def test_weights_file_round_trip(tmp_path, built):
    path = tmp_path / "w.pth"
    torch.save({"state_dict": built("mobilenet_v3_small").state_dict()}, path)
    loaded = get_model("mobilenet_v3_small", weights=path)
    x = torch.randn(1, 3, SMALL, SMALL)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), built("mobilenet_v3_small")(x))


# torchvision key compatibility: exact keys and shapes of torchvision's checkpoints
TORCHVISION_KEYS = {
    "mobilenet_v2": {
        "features.0.0.weight": (32, 3, 3, 3),
        "features.1.conv.0.0.weight": (32, 1, 3, 3),
        "features.1.conv.1.weight": (16, 32, 1, 1),
        "features.2.conv.0.0.weight": (96, 16, 1, 1),
        "features.2.conv.3.running_var": (24,),
        "features.18.0.weight": (1280, 320, 1, 1),
        "classifier.1.weight": (1000, 1280),
    },
    "mobilenet_v3_small": {
        "features.0.0.weight": (16, 3, 3, 3),
        "features.1.block.0.0.weight": (16, 1, 3, 3),
        "features.1.block.1.fc1.weight": (8, 16, 1, 1),
        "features.1.block.1.fc2.bias": (16,),
        "features.4.block.1.0.weight": (96, 1, 5, 5),
        "features.4.block.2.fc1.weight": (24, 96, 1, 1),
        "features.9.block.2.fc1.weight": (72, 288, 1, 1),
        "features.11.block.3.1.num_batches_tracked": (),
        "features.12.0.weight": (576, 96, 1, 1),
        "classifier.0.weight": (1024, 576),
        "classifier.3.weight": (1000, 1024),
    },
    "mobilenet_v3_large": {
        "features.1.block.0.0.weight": (16, 1, 3, 3),
        "features.2.block.0.0.weight": (64, 16, 1, 1),
        "features.4.block.2.fc1.weight": (24, 72, 1, 1),
        "features.13.block.1.0.weight": (672, 1, 5, 5),
        "features.16.0.weight": (960, 160, 1, 1),
        "classifier.0.weight": (1280, 960),
        "classifier.3.bias": (1000,),
    },
    "squeezenet1_0": {
        "features.0.weight": (96, 3, 7, 7),
        "features.3.squeeze.weight": (16, 96, 1, 1),
        "features.3.expand3x3.weight": (64, 16, 3, 3),
        "features.12.expand1x1.weight": (256, 64, 1, 1),
        "classifier.1.weight": (1000, 512, 1, 1),
    },
    "squeezenet1_1": {
        "features.0.weight": (64, 3, 3, 3),
        "features.3.squeeze.weight": (16, 64, 1, 1),
        "features.12.expand3x3.weight": (256, 64, 3, 3),
        "classifier.1.bias": (1000,),
    },
    "shufflenet_v2_x1_0": {
        "conv1.0.weight": (24, 3, 3, 3),
        "conv1.1.num_batches_tracked": (),
        "stage2.0.branch1.0.weight": (24, 1, 3, 3),
        "stage2.0.branch1.2.weight": (58, 24, 1, 1),
        "stage2.0.branch2.0.weight": (58, 24, 1, 1),
        "stage2.1.branch2.3.weight": (58, 1, 3, 3),
        "stage4.3.branch2.5.weight": (232, 232, 1, 1),
        "conv5.0.weight": (1024, 464, 1, 1),
        "fc.weight": (1000, 1024),
    },
    "shufflenet_v2_x0_5": {
        "stage2.0.branch2.0.weight": (24, 24, 1, 1),
        "stage3.0.branch1.2.weight": (48, 48, 1, 1),
        "stage3.7.branch2.6.running_mean": (48,),
        "conv5.0.weight": (1024, 192, 1, 1),
    },
}

# Our own layouts for models torchvision lacks (Megvii's ShuffleNet V1, timm's xception65)
OWN_KEYS = {
    "mobilenet_v1": {
        "features.0.0.weight": (32, 3, 3, 3),
        "features.1.dw.0.weight": (32, 1, 3, 3),
        "features.1.pw.0.weight": (64, 32, 1, 1),
        "features.13.pw.1.running_var": (1024,),
        "classifier.1.weight": (1000, 1024),
    },
    "mobilenet_v1_0_25": {"features.0.0.weight": (8, 3, 3, 3), "classifier.1.weight": (1000, 256)},
    "shufflenet_v1_g3": {
        "first_conv.0.weight": (24, 3, 3, 3),
        "features.0.branch_main_1.0.weight": (60, 24, 1, 1),  # stage 2's first 1x1: ungrouped
        "features.0.branch_main_2.0.weight": (216, 20, 1, 1),  # 240 - 24 channels, groups 3
        "features.1.branch_main_1.0.weight": (60, 80, 1, 1),
        "features.4.branch_main_1.3.weight": (120, 1, 3, 3),
        "classifier.0.weight": (1000, 960),
    },
    "shufflenet_v1_g2": {
        "features.0.branch_main_1.0.weight": (50, 24, 1, 1),
        "features.1.branch_main_1.0.weight": (50, 100, 1, 1),
        "classifier.0.weight": (1000, 800),
    },
    "xception": {
        "stem.0.conv.weight": (32, 3, 3, 3),
        "stem.1.bn.running_mean": (64,),
        "blocks.0.shortcut.conv.weight": (128, 64, 1, 1),
        "blocks.0.stack.conv1.conv_dw.weight": (64, 1, 3, 3),
        "blocks.0.stack.conv1.bn_dw.weight": (64,),
        "blocks.3.stack.conv2.conv_pw.weight": (728, 728, 1, 1),
        "blocks.19.shortcut.bn.bias": (1024,),
        "blocks.19.stack.conv3.conv_pw.weight": (1024, 1024, 1, 1),
        "blocks.20.stack.conv3.conv_pw.weight": (2048, 1536, 1, 1),
        "head.fc.weight": (1000, 2048),
    },
}


@pytest.mark.parametrize("name", sorted(TORCHVISION_KEYS))
def test_torchvision_keys(name, built):
    assert MODELS.get(name).torchvision_compatible
    state = built(name).state_dict()
    for key, shape in TORCHVISION_KEYS[name].items():
        assert key in state, key
        assert tuple(state[key].shape) == shape, key


@pytest.mark.parametrize("name", sorted(OWN_KEYS))
def test_own_layout_keys(name, built):
    assert not MODELS.get(name).torchvision_compatible
    state = built(name).state_dict()
    for key, shape in OWN_KEYS[name].items():
        assert key in state, key
        assert tuple(state[key].shape) == shape, key


def test_layout_details(built):
    bns = [m for m in built("mobilenet_v3_small").modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(m.eps == 0.001 and m.momentum == 0.01 for m in bns)  # torchvision's
    assert "classifier.0.bias" not in built("shufflenet_v1_g3").state_dict()  # Megvii's bias-free fc
    xc = built("xception")
    assert xc.blocks[3].shortcut is None and xc.blocks[20].no_skip  # identity middle flow; exit w/o skip


def test_xception_output_stride():
    from edgekit.zoo.xception import XceptionAligned

    assert MODELS.get("xception").builder.keywords["output_stride"] == 32
    assert MODELS.get("xception_os8").builder.keywords["output_stride"] == 8
    with torch.device("meta"):  # shapes only
        x = torch.empty(1, 3, SMALL, SMALL)
        for os_, side in [(32, 2), (16, 4), (8, 8)]:
            model = XceptionAligned(output_stride=os_)
            assert model.forward_features(x).shape == (1, 2048, side, side), os_
    with pytest.raises(ValueError, match="output_stride"):
        XceptionAligned(output_stride=4, middle_blocks=1)


def test_channel_shuffles():
    from edgekit.zoo.shufflenet_v1 import channel_shuffle as v1_shuffle
    from edgekit.zoo.shufflenet_v2 import channel_shuffle as v2_shuffle

    x = torch.arange(6.0).reshape(1, 6, 1, 1)
    assert v2_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]  # torchvision's order
    assert v1_shuffle(x, 3).flatten().tolist() == [0, 3, 1, 4, 2, 5]  # Megvii's: (C/g, g) -> (g, C/g)
    assert torch.equal(v1_shuffle(v2_shuffle(x, 3), 3), x)  # inverse permutations


@pytest.mark.parametrize("name", ["shufflenet_v1_g3"])
def test_exportable_without_tensor_control_flow(name, built):
    """torch.export traces it whole: shuffles, concats and residual branches are static.
    (Every zoo model exports; one here keeps the suite fast, the exporters' tests do the rest.)"""
    model = built(name)
    x = torch.randn(1, 3, SMALL, SMALL)
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        assert torch.allclose(program.module()(x), model(x), atol=1e-5)
