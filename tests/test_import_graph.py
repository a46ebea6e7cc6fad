"""The import graph of src/edgekit: no circles, and no import from an earlier stage to a later one.

Every import statement counts, wherever it stands (module level, inside a function, under
TYPE_CHECKING): a lazy import is still a dependency. Read from the source with ast, so the
test needs no backend installed.
"""
from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Dependency order, lowest first: a module may import its own stage and the stages before it.
# Stages are package prefixes; the longest matching prefix places a module.
STAGES = [
    # 0: shared helpers, plus runner.py, which is standalone by contract (test_runner.py: it
    # imports nothing of edgekit), so every stage may use its pure functions; _contained runs a
    # function named by a string in a child process (no import of it), signals is the CLI's SIGTERM
    ("edgekit.errors", "edgekit._registry", "edgekit._optional", "edgekit._quiet", "edgekit._files",
     "edgekit._env", "edgekit._finite", "edgekit.types", "edgekit.runtime_bench.runner", "edgekit._contained",
     "edgekit.signals"),
    ("edgekit.formats",),  # what each file format is: knows none of the stages above
    ("edgekit.inspect",),  # what is inside a file
    ("edgekit.data",),  # calibration and evaluation images
    ("edgekit.zoo",),  # model cards, builders, Keras twins, users' models
    ("edgekit.train",),  # fine-tuning a zoo model on a labelled folder: makes the weights export reads
    ("edgekit.fold_bn",),
    ("edgekit.quantize",),  # per-format PTQ, a library the exporters call
    ("edgekit.export",),
    ("edgekit.runtime_bench",),  # engines (runner.py's backends), validation, latency
    ("edgekit.devices",),
    ("edgekit.report",),
    ("edgekit.pipeline",),  # the spine: export, validate, bench, record, report
    ("edgekit.sweep",),  # many pipelines on Ray: runs pipeline.export and device benches, records, reports
    ("edgekit.cli",),
    ("edgekit",),  # the public API (edgekit/__init__.py); only that module: a new module needs a stage
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "edgekit").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for a in node.names:  # `from pkg import module` imports the module
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
    return {m for m in found if m in known and m != name}


def _stage(module: str):
    found = [(len(p), i) for i, stage in enumerate(STAGES) for p in stage
             if module == p or (p != "edgekit" and module.startswith(p + "."))]
    return max(found)[1] if found else None


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, path, set(mods)) for name, path in mods.items()}


def test_every_module_has_a_stage():
    assert [m for m in _modules() if _stage(m) is None] == []


def test_no_import_runs_to_a_later_stage():
    upstream = sorted(f"{a} (stage {_stage(a)}) imports {b} (stage {_stage(b)})"
                      for a, deps in _graph().items() for b in deps if _stage(b) > _stage(a))
    assert not upstream, "\n".join(upstream)


def test_no_import_circles():
    graph, state, circles = _graph(), {}, []

    def visit(node, path):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                circles.append(" -> ".join(path[path.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not circles, "\n".join(circles)
