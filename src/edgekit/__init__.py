"""edgekit: export, quantize, validate and benchmark mobile image models.

The public API, importable with numpy alone (backends load lazily when used):

    from edgekit import get_model, export
    loaded = get_model("mobilenet_v2", weights="mobilenet_v2-b0353104.pth")
    result = export(loaded, "out", formats=["onnx"], int8=True)
"""
from __future__ import annotations

__version__ = "0.1.0"


def get_model(name, weights=None, **kw):
    """A zoo model (see `edgekit models`), weights from a local file only."""
    from .zoo import get_model as _get

    return _get(name, weights, **kw)


def list_models() -> list[str]:
    from .zoo import list_models as _list

    return _list()


def export(loaded, out_dir, formats=None, int8=False, **kw):
    """Fold BN, export to each format (fp32, and int8 if asked), validate each file."""
    from .pipeline import export as _export

    return _export(loaded, out_dir, formats, int8=int8, **kw)


def connect(uri: str, **options):
    """A device target: 'local', 'ssh://[user@]host[:port]' or 'adb://SERIAL'."""
    from .devices.targets import DeviceOptions, connect as _connect

    return _connect(uri, DeviceOptions(**options) if options else None)


__all__ = ["get_model", "list_models", "export", "connect", "__version__"]
