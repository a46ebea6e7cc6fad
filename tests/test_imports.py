"""`import edgekit` and `edgekit --help` need numpy alone: every backend is imported lazily."""
from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO

BLOCK = ("torch", "tensorflow", "onnx", "onnxruntime", "openvino", "nncf", "keras", "ai_edge_litert", "ray")


def _run_blocked(code: str):
    blocker = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in BLOCK)
    return subprocess.run([sys.executable, "-c", blocker + code], capture_output=True, text=True,
                          # a bare environment, but the test results database (conftest), never the user's
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin",
                               "EDGEKIT_DB": os.environ["EDGEKIT_DB"]})


def test_import_edgekit_needs_numpy_only():
    proc = _run_blocked("import edgekit, edgekit.errors, edgekit.types, edgekit.data, edgekit.cli.main\nprint('ok')")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_cli_help_needs_no_backend():
    proc = _run_blocked("import sys; sys.argv=['edgekit','--help']\nfrom edgekit.cli.main import main\nmain()")
    assert proc.returncode == 0, proc.stderr
    assert "export" in proc.stdout and "sweep" in proc.stdout
    proc = _run_blocked("import sys; sys.argv=['edgekit','sweep','--help']\nfrom edgekit.cli.main import main\nmain()")
    assert proc.returncode == 0, proc.stderr  # Ray (blocked here) is imported only when a sweep runs
    assert "--ray-address" in proc.stdout


def test_missing_backend_names_the_extra(tmp_path):
    proc = _run_blocked(
        "import sys; sys.argv=['edgekit','export','mobilenet_v2','--format','onnx','--out',%r]\n"
        "from edgekit.cli.main import main\nmain()" % str(tmp_path))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "pip install" in proc.stderr
