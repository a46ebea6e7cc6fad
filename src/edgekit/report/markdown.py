"""The report as Markdown, plots as SVG files beside it."""
from __future__ import annotations

COLUMNS = [("file", "file"), ("format", "format"), ("precision", "precision"), ("engine", "engine"),
           ("threads", "threads"), ("runs", "runs"), ("p50_ms", "p50 ms"), ("p90_ms", "p90 ms"),
           ("p99_ms", "p99 ms"), ("mean_ms", "mean ms"), ("std_ms", "std ms"), ("min_ms", "min ms"),
           ("max_ms", "max ms"), ("load_ms", "load ms"), ("first_ms", "first ms"), ("peak_rss_mb", "peak MB"),
           ("size_mb", "size MB"), ("top1_agreement", "top-1 agree"), ("top1_agreement_ci95", "95% CI"),
           ("cosine", "cosine"), ("sqnr_db", "SQNR dB"), ("accuracy_samples", "images")]
LABELLED = [("top1_accuracy", "top-1 acc"), ("top1_drop_points", "drop pts"), ("top1_drop_ci95_points", "drop 95% CI")]

METHOD = ("Each file ran in fresh processes of its own (edgekit's runner.py: numpy and the runtime only; "
          "3 by default, their timed runs pooled, since one process is one sample of memory layout): "
          "load, one first inference, warm-up, then timed runs (set input, run, read output) until the "
          "minimum runs and seconds; several files were interleaved in rounds so that drift hits all "
          "alike. Load and first-inference times are the median process's; peak MB is the peak resident "
          "memory of the largest of those processes. Top-1 agreement: how often the "
          "file's top-1 class equals the float model's, on held-out real images; its 95% CI is the Wilson "
          "score interval; cosine: mean cosine of the logits; SQNR: of all logits against float's. With "
          "labelled images: top-1 accuracy against the labels and the drop from float in points, its 95% CI "
          "paired (Newcombe's hybrid score interval: float and the file judged on the same images).")


TITLES = {"latency": "Latency distribution", "accuracy": "Accuracy vs latency",
          "accuracy_by_device": "Accuracy vs latency, per device", "size": "Size"}


def columns(rows: list[dict]) -> list[tuple[str, str]]:
    """COLUMNS, led by the device when the results come from devices (a sweep, bench --device)."""
    return ([("device", "device")] if any(r.get("device") for r in rows) else []) + COLUMNS + \
        (LABELLED if any(r.get("top1_accuracy") is not None for r in rows) else [])


def fmt(key: str, v) -> str:
    if v is None:
        return "-"
    if key in ("top1_agreement", "top1_accuracy"):
        return f"{100 * v:.1f}%"
    if key == "cosine":  # int8 files differ from float in the third or fourth decimal
        return f"{v:.4f}"
    if key == "top1_agreement_ci95":
        return f"{100 * v[0]:.1f}-{100 * v[1]:.1f}%"
    if key == "top1_drop_ci95_points":
        return f"{v[0]:+.1f} to {v[1]:+.1f}"
    if isinstance(v, float):
        return f"{v:.2f}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def environment_lines(doc: dict) -> list[str]:
    from ..runtime_bench.result import results_of

    env, results = doc.get("env") or {}, results_of(doc["results"])
    host = env.get("host") or results[0].host
    runtimes = sorted({f"{r.runtime or r.backend} {r.runtime_version}" for r in results})
    run = doc.get("run") or {}
    return [f"Host: {host.get('cpu_model')}, {host.get('cores')} cores, {host.get('machine')}, {host.get('os')}, "
            f"Python {host.get('python')}",
            f"Runtimes: {', '.join(runtimes)}; edgekit {env.get('edgekit_version')}",
            f"Recorded: {run.get('created_at', '-')} (run {run.get('id', '-')}); timer: {results[0].timer}"]


def ratio_lines(doc: dict) -> list[str]:
    """int8-vs-fp32 lines; per device (speed_ratios(by_device=True)) when the ratios name one."""
    out = []
    for q in doc.get("ratios") or []:
        where = f"{q['device']}: " if q.get("device") else ""
        stat = q.get("statistic", "p50_ms")[:-3]
        b, c = q.get("baseline_ms", q.get("baseline_p50_ms")), q.get("candidate_ms", q.get("candidate_p50_ms"))
        model = f"{q['model']} " if q.get("model") else ""
        out.append(f"{where}{model}{q['format']} ({q['engine']}, {q['threads']} thread(s)): {q['precision']} is "
                   f"{q['speedup']:.2f}x as fast as fp32 ({stat} {b:.2f} -> {c:.2f} ms)")
    return out


NOT_MEASURED = "Accuracy not measured"


def warning_lines(rows: list[dict]) -> list[str]:
    """One line per file whose validation said nothing (the float model's outputs were constant,
    e.g. random-init weights): its agreement, cosine and SQNR are left blank in the table."""
    seen: dict = {}
    for r in rows:
        if r.get("accuracy_warning") and r.get("file") not in seen:
            seen[r.get("file")] = r["accuracy_warning"]
    return [f"{f}: {w}" for f, w in seen.items()]


def render(doc: dict, rows: list[dict], plot_files: dict) -> str:
    out = [f"# {doc['title']}", ""]
    out += [f"- {line}" for line in environment_lines(doc)] + [""]
    cols = columns(rows)
    out += ["| " + " | ".join(h for _, h in cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(fmt(k, r.get(k)) for k, _ in cols) + " |" for r in rows]
    unmeasured = warning_lines(rows)
    if unmeasured:
        out += ["", f"## {NOT_MEASURED}", ""] + [f"- {line}" for line in unmeasured]
    if doc.get("ratios"):
        out += ["", "## int8 speed-up", ""] + [f"- {line}" for line in ratio_lines(doc)]
    for key, name in plot_files.items():
        out += ["", f"## {TITLES[key]}", "", f"![{TITLES[key]}]({name})"]
    out += ["", "## Method", "", METHOD, ""]
    return "\n".join(out)
