"""File formats, the bottom layer: what each format's files are, nothing of the stages above.

One FormatSpec per format (the table below): its suffix and companion files, the engine that
runs it by default (a name in runtime_bench/engines.py), the pip extra with its tools, and how
to recognise a file without its suffix. Format-specific reading and writing live beside it:
``tflite`` (schema, flatbuffer round trip), ``tflite_metadata``, ``onnx`` (torch -> ONNX),
``openvino`` (the .xml/.bin pair), ``executorch`` (.pte: torch -> XNNPACK), ``ncnn`` (.param/.bin via pnnx).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .._registry import Registry
from ..errors import ConfigError


@dataclass(frozen=True)
class FormatSpec:
    name: str  # "openvino": what --format, sidecars and results call it
    title: str  # "OpenVINO": how messages name it
    suffix: str  # ".xml": the file a user passes
    default_engine: str  # the EngineSpec that runs it unless --engine says otherwise
    extra: str  # pip install 'edgekit[EXTRA]' gives the tools to write and read it
    companions: tuple[str, ...] = ()  # files that belong beside it (".bin" weights)
    kind: str = ""  # what the suffix alone does not say, e.g. "OpenVINO IR"
    magic: Optional[tuple[int, bytes]] = None  # (offset, bytes) that mark the file whatever its name
    infix: str = ""  # put before the suffix in edgekit's file names, where companions would clash

    @property
    def suffix_label(self) -> str:
        return f"{self.suffix} ({self.kind})" if self.kind else self.suffix


FORMATS: Registry[FormatSpec] = Registry("format")
for _spec in (
    FormatSpec("onnx", "ONNX", ".onnx", default_engine="onnxruntime", extra="onnx"),
    FormatSpec("tflite", "TFLite", ".tflite", default_engine="litert", extra="tflite", magic=(4, b"TFL3")),
    FormatSpec("openvino", "OpenVINO", ".xml", default_engine="openvino", extra="openvino",
               companions=(".bin",), kind="OpenVINO IR"),
    FormatSpec("executorch", "ExecuTorch", ".pte", default_engine="executorch", extra="executorch",
               magic=(4, b"ET12")),
    # ncnn's weights are a .bin too: edgekit names them m_fp32.ncnn.param / .ncnn.bin beside m_fp32.xml / .bin
    FormatSpec("ncnn", "ncnn", ".param", default_engine="ncnn", extra="ncnn", companions=(".bin",),
               kind="ncnn", magic=(0, b"7767517"), infix=".ncnn"),
):
    FORMATS.register(_spec.name, _spec)


def format_of(path: Path, sniff: bool = False) -> str:
    """The format of a model file by its suffix; with ``sniff``, by its magic bytes when the suffix is unknown."""
    path = Path(path)
    suffix = path.suffix.lower()
    for name, spec in FORMATS.items():
        if spec.suffix == suffix:
            return name
    if sniff and path.is_file():
        with open(path, "rb") as f:
            head = f.read(64)
        for name, spec in FORMATS.items():
            if spec.magic and head[spec.magic[0]:spec.magic[0] + len(spec.magic[1])] == spec.magic[1]:
                return name
    raise ConfigError(f"Unknown model file type '{suffix or path.name}'. Valid: "
                      f"{', '.join(s.suffix_label for _, s in FORMATS.items())}")


__all__ = ["FORMATS", "FormatSpec", "format_of"]
