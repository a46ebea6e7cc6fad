"""TFLite Metadata for apps: write and read the subset image classifiers use.

The published schema is tensorflow/tflite-support's ``metadata_schema.fbs`` (file
identifier "M001"). The ``tflite-support`` package that ships a writer pins protobuf < 4
and cannot co-install with this stack, so the subset is written here with ``flatbuffers``
directly, slot numbers as in the schema (a union takes two slots: type, then value).
Placement follows tflite-support's MetadataPopulator: the metadata flatbuffer becomes a
new model buffer referenced by a ``Model.metadata`` entry named "TFLITE_METADATA", and
associated files (labels.txt) are appended to the model as a zip archive.

Written (what the Task Library / ML Kit image classifiers read): model name, description,
version, author, license; input "image": ImageProperties (color space, default size),
NormalizationOptions (mean, std on the 0-255 scale), Stats (min, max of the float input);
output "logits": FeatureProperties and labels.txt as TENSOR_AXIS_LABELS.
"""
from __future__ import annotations

import io
import zipfile
from typing import Optional, Sequence

from .tflite import load_model, pack, schema, unpack

METADATA_NAME = "TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.0.0"  # only fields of the 1.0 schema are written
TENSOR_AXIS_LABELS = 2
COLOR_SPACE = {"UNKNOWN": 0, "RGB": 1, "GRAYSCALE": 2}
_CONTENT_FEATURE, _CONTENT_IMAGE = 1, 2  # ContentProperties union
_PROCESS_NORMALIZATION = 1  # ProcessUnitOptions union


# ---------------------------------------------------------------- writing


def build_metadata(name: str, description: str, version: str, author: str, license: str,
                   input_size: int, color: str, mean: Sequence[float], std: Sequence[float],
                   labels_file: Optional[str], num_classes: int, output_description: str = "") -> bytes:
    import flatbuffers

    b = flatbuffers.Builder(1024)

    def s(text):
        return b.CreateString(text) if text else None

    def table(slots: list):
        """slots: list of (kind, value) by slot number; kind in 'off', 'u8', 'i8', 'u32'."""
        b.StartObject(len(slots))
        for slot, (kind, value) in enumerate(slots):
            if value is None:
                continue
            if kind == "off":
                b.PrependUOffsetTRelativeSlot(slot, value, 0)
            elif kind == "u8":
                b.PrependUint8Slot(slot, value, 0)
            elif kind == "i8":
                b.PrependInt8Slot(slot, value, 0)
            elif kind == "u32":
                b.PrependUint32Slot(slot, value, 0)
        return b.EndObject()

    def vec_tables(offsets):
        b.StartVector(4, len(offsets), 4)
        for o in reversed(offsets):
            b.PrependUOffsetTRelative(o)
        return b.EndVector()

    def vec_floats(values):
        b.StartVector(4, len(values), 4)
        for v in reversed(list(values)):
            b.PrependFloat32(float(v))
        return b.EndVector()

    # input tensor
    size = table([("u32", input_size), ("u32", input_size)])  # ImageSize(width, height)
    # The schema knows RGB and GRAYSCALE only: BGR models say UNKNOWN and spell it out.
    image_props = table([("i8", COLOR_SPACE.get(color, 0)), ("off", size)])
    in_content = table([("u8", _CONTENT_IMAGE), ("off", image_props), ("off", None)])
    norm = table([("off", vec_floats(mean)), ("off", vec_floats(std))])
    unit = table([("u8", _PROCESS_NORMALIZATION), ("off", norm)])
    units = vec_tables([unit])
    lo = [(0.0 - m) / sd for m, sd in zip(mean, std)]
    hi = [(255.0 - m) / sd for m, sd in zip(mean, std)]
    stats = table([("off", vec_floats(hi)), ("off", vec_floats(lo))])  # Stats(max, min)
    in_name = s("image")
    in_desc = s(f"Input image, {input_size}x{input_size} {color} pixels (0-255), normalized as (pixel - mean) / std")
    input_md = table([("off", in_name), ("off", in_desc), ("off", None), ("off", in_content),
                      ("off", units), ("off", stats), ("off", None)])
    # output tensor
    files = None
    if labels_file:
        f_name, f_desc = s(labels_file), s(f"Labels of the {num_classes} classes, one per line")
        files = vec_tables([table([("off", f_name), ("off", f_desc), ("i8", TENSOR_AXIS_LABELS),
                                   ("off", None), ("off", None)])])
    feature = table([])
    out_content = table([("u8", _CONTENT_FEATURE), ("off", feature), ("off", None)])
    out_name = s("logits")
    out_desc = s(output_description or f"Scores of {num_classes} classes (logits; softmax gives probabilities)")
    output_md = table([("off", out_name), ("off", out_desc), ("off", None), ("off", out_content),
                       ("off", None), ("off", None), ("off", files)])
    sg_name = s(name)
    subgraph = table([("off", sg_name), ("off", None), ("off", vec_tables([input_md])),
                      ("off", vec_tables([output_md]))] + [("off", None)] * 6)
    fields = [s(name), s(description), s(version)]
    subgraphs = vec_tables([subgraph])
    author_o, license_o, minv = s(author), s(license), s(MIN_PARSER_VERSION)
    root = table([("off", fields[0]), ("off", fields[1]), ("off", fields[2]), ("off", subgraphs),
                  ("off", author_o), ("off", license_o), ("off", None), ("off", minv)])
    b.Finish(root, file_identifier=METADATA_IDENTIFIER)
    return bytes(b.Output())


def populate(model_bytes: bytes, metadata: bytes, files: dict[str, bytes],
             io_names: Optional[tuple] = None) -> bytes:
    """Insert ``metadata`` as the TFLITE_METADATA buffer and append ``files`` as a zip.

    ``io_names`` = (input name, output name) renames subgraph 0's I/O tensors on the way
    (the converter calls the output of a frozen graph "Identity").
    """
    fb = schema()
    load_model(model_bytes, "converted model")
    model = unpack(model_bytes)
    if io_names:
        sg = model.subgraphs[0]
        for idx, name in ((sg.inputs[0], io_names[0]), (sg.outputs[0], io_names[1])):
            sg.tensors[int(idx)].name = name
    buf = fb.BufferT()
    buf.data = metadata
    model.buffers = model.buffers or []
    model.metadata = model.metadata or []
    existing = [m for m in model.metadata if _text(m.name) == METADATA_NAME]
    if existing:
        model.buffers[existing[0].buffer] = buf
    else:
        model.buffers.append(buf)
        entry = fb.MetadataT()
        entry.name = METADATA_NAME
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)
    out = io.BytesIO(pack(model, len(model_bytes) + len(metadata)))
    if files:
        out.seek(0, io.SEEK_END)
        with zipfile.ZipFile(out, "a") as zf:
            for name, content in files.items():
                zf.writestr(name, content)
    return out.getvalue()


# ---------------------------------------------------------------- reading


def metadata_buffer(model_bytes: bytes) -> Optional[bytes]:
    model = load_model(model_bytes, "model")
    for i in range(model.MetadataLength()):
        m = model.Metadata(i)
        if _text(m.Name()) == METADATA_NAME:
            return model.Buffers(m.Buffer()).DataAsNumpy().tobytes()
    return None


def packed_files(model_bytes: bytes) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(io.BytesIO(model_bytes)) as zf:
            return {n: zf.read(n) for n in zf.namelist()}
    except zipfile.BadZipFile:
        return {}


def read_metadata(model_bytes: bytes) -> dict:
    """The metadata subset above as a dict, plus labels read from the packed labels file."""
    raw = metadata_buffer(model_bytes)
    if raw is None:
        return {}
    if raw[4:8] != METADATA_IDENTIFIER:
        raise ValueError(f"metadata buffer has identifier {raw[4:8]!r}, expected {METADATA_IDENTIFIER!r}")
    root = _Table.root(raw)
    out = {"name": root.string(0), "description": root.string(1), "version": root.string(2),
           "author": root.string(4), "license": root.string(5), "min_parser_version": root.string(7)}
    sgs = root.tables(3)
    sg = sgs[0] if sgs else None
    out["inputs"] = [_tensor(t) for t in sg.tables(2)] if sg else []
    out["outputs"] = [_tensor(t) for t in sg.tables(3)] if sg else []
    files = packed_files(model_bytes)
    out["packed_files"] = sorted(files)
    labels = None
    for t in out["outputs"]:
        for f in t["associated_files"]:
            if f["type"] == TENSOR_AXIS_LABELS and f["name"] in files:
                labels = files[f["name"]].decode("utf-8").splitlines()
    out["labels"] = labels
    return out


def _tensor(t: "_Table") -> dict:
    d = {"name": t.string(0), "description": t.string(1), "content": None, "normalization": None,
         "stats": None, "associated_files": []}
    content = t.table(3)
    if content is not None:
        kind = content.scalar(0, "B")
        props = content.table(1)
        if kind == _CONTENT_IMAGE and props is not None:
            size = props.table(1)
            color = props.scalar(0, "b")
            d["content"] = {"type": "image",
                            "color_space": {v: k for k, v in COLOR_SPACE.items()}.get(color, str(color)),
                            "size": [size.scalar(0, "I"), size.scalar(1, "I")] if size else None}
        elif kind == _CONTENT_FEATURE:
            d["content"] = {"type": "feature"}
    for unit in t.tables(4):
        if unit.scalar(0, "B") == _PROCESS_NORMALIZATION and unit.table(1) is not None:
            n = unit.table(1)
            d["normalization"] = {"mean": n.floats(0), "std": n.floats(1)}
    stats = t.table(5)
    if stats is not None:
        d["stats"] = {"max": stats.floats(0), "min": stats.floats(1)}
    d["associated_files"] = [{"name": f.string(0), "description": f.string(1), "type": f.scalar(2, "b")}
                             for f in t.tables(6)]
    return d


class _Table:
    """Minimal flatbuffer table reader (vtable lookups by slot), enough for the subset above."""

    def __init__(self, buf: bytes, pos: int) -> None:
        import flatbuffers

        self.t = flatbuffers.table.Table(bytearray(buf), pos)
        self.buf = buf

    @classmethod
    def root(cls, buf: bytes) -> "_Table":
        import flatbuffers

        return cls(buf, flatbuffers.encode.Get(flatbuffers.packer.uoffset, bytearray(buf), 0))

    def _off(self, slot: int) -> int:
        return self.t.Offset(4 + 2 * slot)

    def scalar(self, slot: int, fmt: str):
        import flatbuffers.number_types as N

        o = self._off(slot)
        kind = {"B": N.Uint8Flags, "b": N.Int8Flags, "I": N.Uint32Flags}[fmt]
        return self.t.Get(kind, o + self.t.Pos) if o else 0

    def string(self, slot: int) -> Optional[str]:
        o = self._off(slot)
        return self.t.String(o + self.t.Pos).decode("utf-8") if o else None

    def table(self, slot: int) -> Optional["_Table"]:
        o = self._off(slot)
        return _Table(self.buf, self.t.Indirect(o + self.t.Pos)) if o else None

    def tables(self, slot: int) -> list:
        o = self._off(slot)
        if not o:
            return []
        start, n = self.t.Vector(o), self.t.VectorLen(o)
        return [_Table(self.buf, self.t.Indirect(start + 4 * i)) for i in range(n)]

    def floats(self, slot: int) -> list[float]:
        import flatbuffers.number_types as N

        o = self._off(slot)
        if not o:
            return []
        start, n = self.t.Vector(o), self.t.VectorLen(o)
        return [float(self.t.Get(N.Float32Flags, start + 4 * i)) for i in range(n)]


def _text(v) -> str:
    if v is None:
        return ""
    return v.decode("utf-8", "replace") if isinstance(v, (bytes, bytearray)) else str(v)
