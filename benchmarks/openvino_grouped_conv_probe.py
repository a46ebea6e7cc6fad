"""ShuffleNetV1 (Fashion-MNIST weights) as OpenVINO int8 agrees with float on 8.5% of images:
which step of edgekit's OpenVINO int8 is to blame? Each variant switches one off.

    PYTHONPATH=src python benchmarks/openvino_grouped_conv_probe.py shufflenet_v1_g2 VARIANT
    # VARIANT: shipped | noprep (no equalization/GPTQ/BC) | pertensor (per-tensor weights)
    #          | noinput (NNCF's own input range) | nobc (NNCF bias correction off)

Needs the table's files (benchmarks/fashion_mnist_accuracy_table.py) for calibration and
evaluation arrays. Measured: every variant 8.5% (docs/TRAINING.md, "Accuracy table"). The
cause, found since: the CPU plugin's AMX int8 kernel for grouped 1x1 convolutions, which edgekit
now avoids (benchmarks/openvino_grouped_pointwise.py; run this probe with
openvino_int8.densify_grouped_pointwise replaced by `lambda m: []` to see the fault again).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_zoo_fashion_mnist import DEFAULT_CACHE, checkpoint_of  # noqa: E402


def switch_off(variant: str) -> None:
    """Monkeypatch the one step ``variant`` names out of edgekit's OpenVINO int8 (this process only)."""
    from edgekit.export import openvino_export
    from edgekit.quantize import openvino_int8

    if variant == "noinput":
        openvino_int8.set_input_range = lambda *a, **k: False
    elif variant == "nobc":
        import nncf

        original = nncf.quantize

        def without_bias_correction(*a, **k):
            k["advanced_parameters"].disable_bias_correction = True
            return original(*a, **k)

        nncf.quantize = without_bias_correction
    elif variant == "noprep":
        openvino_export.OpenVINOExporter.int8_preparation = False


def main() -> None:
    import torch

    from edgekit.pipeline import DataOptions, export
    from edgekit.quantize import QuantConfig
    from edgekit.zoo import get_model

    torch.set_num_threads(1)
    arch, variant = sys.argv[1], sys.argv[2]
    switch_off(variant)
    loaded = get_model(arch, checkpoint_of(DEFAULT_CACHE, arch))
    work = Path(f"/tmp/edgekit-ov-probe/{arch}_{variant}")
    work.mkdir(parents=True, exist_ok=True)
    src = DEFAULT_CACHE / "table" / "files" / arch
    r = export(loaded, work, ["openvino"], int8=True, quant=QuantConfig(samples=300, per_channel=variant != "pertensor"),
               data=DataOptions(calib=src / "calib.npy", eval=src / "eval.npy"))
    for a in r.artifacts:
        acc = a.meta.get("accuracy", {})
        print(arch, variant, a.precision, acc.get("top1_agreement"), acc.get("sqnr_db"))


if __name__ == "__main__":
    main()
