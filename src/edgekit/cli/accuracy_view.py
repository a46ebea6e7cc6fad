"""How validate, export and run show a file's agreement with float (and accuracy against labels)
to people: the 95% interval, logit cosine and SQNR always beside agreement; the drop with its
paired interval beside accuracy."""
from __future__ import annotations

from .common import table

AGREEMENT_NOTE = ("agreement: how often the file's top-1 class is the float model's on the evaluation images "
                  "(export and run: never the calibration images); 95% CI: Wilson score interval")
LABEL_NOTE = ("accuracy against the folder's labels; drop: float minus file in points, 95% CI paired "
              "(Newcombe's hybrid score interval: both judged on the same images)")


def pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def interval(ci, scale: float = 100, unit: str = "%", sign: str = "") -> str:
    return "-" if not ci else f"{scale * ci[0]:{sign}.1f} to {scale * ci[1]:{sign}.1f}{unit}"


def drop(acc: dict, k: int) -> str:
    d = acc.get(f"top{k}_drop_points")
    if d is None:
        return "-"
    return f"{d:+.1f} ({interval(acc.get(f'top{k}_drop_ci95_points'), 1, '', '+')})"


def agreement_row(name: str, acc: dict, **extra) -> dict:
    return {"file": name, **extra, "agree": pct(acc.get("top1_agreement")),
            "ci": interval(acc.get("top1_agreement_ci95")), "top5": pct(acc.get("top5_agreement")),
            "cosine": acc.get("cosine_mean"), "sqnr_db": acc.get("sqnr_db"), "n": acc.get("samples")}


def accuracy_tables(items: list[tuple[str, dict]], extra_cols: list[tuple[str, str]] = (),
                    extras: list[dict] | None = None) -> str:
    """items: (file name, accuracy dict as runtime_bench.metrics.agreement returns it)."""
    extras = extras or [{} for _ in items]
    rows = [agreement_row(name, acc or {}, **x) for (name, acc), x in zip(items, extras)]
    if not any(acc for _, acc in items):
        cols = [("file", "file"), *extra_cols]
        return table(rows, cols) + "\n(not validated)" if rows else ""
    cols = [("file", "file"), *extra_cols, ("agree", "top-1 agree"), ("ci", "95% CI"), ("top5", "top-5 agree"),
            ("cosine", "cosine"), ("sqnr_db", "SQNR dB"), ("n", "images")]
    out = [table(rows, cols), f"({AGREEMENT_NOTE})"]
    labelled = [(name, acc) for name, acc in items if acc and acc.get("labelled_samples")]
    if labelled:
        lrows = [{"file": name, "n": acc["labelled_samples"], "f1": pct(acc.get("reference_top1_accuracy")),
                  "t1": pct(acc.get("top1_accuracy")), "d1": drop(acc, 1),
                  "f5": pct(acc.get("reference_top5_accuracy")), "t5": pct(acc.get("top5_accuracy")),
                  "d5": drop(acc, 5)} for name, acc in labelled]
        out += ["", table(lrows, [("file", "file"), ("n", "labelled"), ("f1", "float top-1"), ("t1", "top-1"),
                                  ("d1", "drop pts (95% CI)"), ("f5", "float top-5"), ("t5", "top-5"),
                                  ("d5", "drop pts (95% CI)")]), f"({LABEL_NOTE})"]
    out += notes(items)
    return "\n".join(out)


def notes(items: list[tuple[str, dict]]) -> list[str]:
    """warning: lines (constant float outputs, ...) and why a folder's layout gave no labels; once each."""
    seen, out = set(), []
    for _, acc in items:
        if not acc:
            continue
        note = ((acc.get("data") or {}).get("labels") or {}).get("note")
        for line in [*(acc.get("warnings") or []), *([f"labels: {note}"] if note else [])]:
            if line not in seen:
                seen.add(line)
                out.append(line if line.startswith("labels:") else f"warning: {line}")
    return out
