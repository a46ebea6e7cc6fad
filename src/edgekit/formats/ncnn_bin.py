"""ncnn's .bin weights, blob by blob: read which are fp16 and which fp32, and write fp16 weights
with the blobs that fp16 hurts most kept in fp32.

ncnn reads a layer's weight blob with a 4-byte tag first (0x01306B47: float16 data, padded to 4
bytes; 0: float32 data) and its bias blob untagged, always float32; so fp16 and fp32 weight blobs
may be mixed in one file, layer by layer. Only the layer types below are walked (their blobs'
sizes are in the .param); any other layer type with weights makes the file unwalkable here.

Why some blobs stay fp32 (docs/decisions.md, "ncnn fp16"): fp16 weights everywhere cost
MobileNetV2 40 dB logit SQNR, almost all of it from its first depthwise conv (288 weights); the
smallest blobs are the early and depthwise layers, fp16 saves nothing worth having on them, and
keeping the smallest 0.5% of the weights in fp32 gives 57 dB for a file 0.4% larger.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np

FP16_TAG, FP32_TAG = 0x01306B47, 0
FP32_BUDGET = 0.005  # the smallest weight blobs, up to this fraction of all weights, stay fp32
# layer type -> (.param key of its weight count, of its bias flag, of its output count)
WEIGHTED = {t: ("6", "5", "0") for t in ("Convolution", "ConvolutionDepthWise", "Deconvolution",
                                         "DeconvolutionDepthWise")}
WEIGHTED["InnerProduct"] = ("2", "1", "0")
NO_WEIGHTS = frozenset(("Input", "Split", "BinaryOp", "UnaryOp", "Pooling", "ReLU", "Clip", "Sigmoid", "Swish",
                        "HardSwish", "HardSigmoid", "TanH", "ELU", "GELU", "Mish", "Softmax", "Flatten", "Reshape",
                        "Concat", "Slice", "Crop", "Permute", "Interp", "Padding", "Dropout", "Noop", "Squeeze",
                        "ExpandDims", "Eltwise"))
NO_ROUTE_KEYS = ("8", "19")  # int8 scales, dynamic weights: more or fewer blobs than the three keys say


class WeightBlob(NamedTuple):
    layer: str
    count: int  # weights
    bias: int  # bias values after the weights (always float32, untagged)
    dtype: str = ""  # "fp16" | "fp32" once read from a .bin


def weight_blobs(param: Path) -> tuple[list[WeightBlob], Optional[str]]:
    """The weight blobs of ``param``'s layers, in .bin order, or ([], why not) when a layer is not walkable."""
    blobs = []
    for ln in Path(param).read_text(errors="replace").splitlines()[2:]:
        f = ln.split()
        if not f or f[0] in NO_WEIGHTS:
            continue
        if f[0] not in WEIGHTED:
            return [], f"layer {f[1] if len(f) > 1 else '?'} ({f[0]}) is not one edgekit reads weights of"
        try:
            blobs.append(_blob(f))
        except (ValueError, IndexError):
            return [], (f"'{' '.join(f)[:60]}' is not an ncnn layer line "
                        "(type name n_in n_out blobs... key=value...)")
        if blobs[-1] is None:
            return [], f"layer {f[1]} ({f[0]}) has int8 scales or dynamic weights, which edgekit does not read"
    return blobs, None


def _blob(f: list[str]) -> Optional[WeightBlob]:
    kv = dict(x.split("=", 1) for x in f[4 + int(f[2]) + int(f[3]):] if "=" in x)
    if any(k in kv for k in NO_ROUTE_KEYS):
        return None
    n_key, bias_key, out_key = WEIGHTED[f[0]]
    blob = WeightBlob(f[1], int(kv.get(n_key, 0)), int(kv.get(out_key, 0)) if kv.get(bias_key) == "1" else 0)
    if blob.count < 0 or blob.bias < 0:
        raise ValueError("negative size")
    return blob


def read_blobs(param: Path, weights: Path) -> tuple[list[WeightBlob], list[np.ndarray], Optional[str]]:
    """(blobs with their dtype, their weights and biases as float32 arrays, why not walkable or None)."""
    blobs, why = weight_blobs(param)
    buf, pos, out, arrays = Path(weights).read_bytes(), 0, [], []
    for b in [] if why else blobs:
        tag = int.from_bytes(buf[pos:pos + 4], "little")
        pos += 4
        if tag not in (FP16_TAG, FP32_TAG):
            return [], [], f"layer {b.layer}'s weights have tag {tag:#x} (not fp16 or fp32)"
        wide = 2 if tag == FP16_TAG else 4
        end = pos + (b.count * wide + 3) // 4 * 4 + 4 * b.bias
        if end > len(buf):
            return [], [], f"{Path(weights).name} ends inside layer {b.layer}'s weights"
        w = np.frombuffer(buf, np.float16 if wide == 2 else np.float32, b.count, pos).astype(np.float32)
        arrays.append((w, np.frombuffer(buf, np.float32, b.bias, end - 4 * b.bias)))
        out.append(b._replace(dtype="fp16" if wide == 2 else "fp32"))
        pos = end
    if not why and pos != len(buf):
        return [], [], f"{Path(weights).name} has {len(buf) - pos} bytes after the last layer's weights"
    return out, arrays, why


def fp32_kept(blobs: list[WeightBlob], budget: float = FP32_BUDGET) -> set[str]:
    """The layers whose weights stay fp32: the smallest blobs (earlier first among equals) up to ``budget``."""
    total, kept, used = sum(b.count for b in blobs), set(), 0
    for b in sorted(blobs, key=lambda b: b.count):  # stable: file order breaks ties
        if used + b.count > budget * total:
            break
        kept.add(b.layer)
        used += b.count
    return kept


def write_fp16(dst: Path, blobs: list[WeightBlob], arrays: list, keep: set[str]) -> None:
    """Write ``dst`` from ``read_blobs``' blobs and arrays: fp16 weights (round to nearest even), ``keep``'s in fp32."""
    with open(dst, "wb") as f:
        for b, (w, bias) in zip(blobs, arrays):
            if b.layer in keep:
                f.write(FP32_TAG.to_bytes(4, "little") + w.astype("<f4").tobytes())
            else:
                half = w.astype("<f2").tobytes()
                f.write(FP16_TAG.to_bytes(4, "little") + half + b"\0" * (-len(half) % 4))
            f.write(bias.astype("<f4").tobytes())
