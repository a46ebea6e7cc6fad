"""`edgekit bench FILE... --device URI [--device URI2]`: the device half of the bench command.

Kept out of bench_cmd.py: ``device_options`` adds the flags and hands the command one
``DeviceRequest``; ``run_on_devices`` measures, records each result in the database as soon as
its device returns it, prints one table, and ends with one error line if a device failed.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import click

from ..errors import ConfigError, DeviceError
from . import params
from .common import emit, progress, table

COLUMNS = [("device", "device"), ("file", "file"), ("engine", "engine"), ("threads", "thr"), ("runs", "runs"),
           ("p50_ms", "p50 ms"), ("p90_ms", "p90 ms"), ("p99_ms", "p99 ms"), ("mean_ms", "mean"), ("std_ms", "std"),
           ("min_ms", "min"), ("max_ms", "max"), ("load_ms", "load ms"), ("first_ms", "1st ms"),
           ("peak_rss_mb", "peak MB"), ("method", "how"), ("validation", "vs host")]


@dataclass(frozen=True)
class DeviceRequest:
    uris: tuple[str, ...]
    ssh_config: Optional[Path]
    adb_server_port: Optional[int]
    benchmark_binary: Optional[Path]
    cooldown: Optional[float]
    validate: bool
    data: Optional[Path]

    def wanted(self) -> bool:
        """True with --device; device-only flags without one are refused."""
        if self.uris:
            return True
        given = [flag for flag, v in (("--benchmark-binary", self.benchmark_binary), ("--cooldown", self.cooldown),
                                      ("--validate", self.validate or None), ("--data", self.data),
                                      ("--adb-server-port", self.adb_server_port)) if v is not None]
        if given:
            raise ConfigError(f"{given[0]} needs --device URI (e.g. --device ssh://pi); on this host use "
                              "`edgekit validate` for accuracy")
        return False

    def options(self):
        from ..devices import DeviceOptions

        return DeviceOptions(ssh_config=self.ssh_config, adb_server_port=self.adb_server_port,
                             benchmark_binary=self.benchmark_binary, cooldown_s=self.cooldown or 0.0)


_OPTIONS = [
    click.option("--device", "device_uris", multiple=True, metavar="URI",
                 help="Measure on a device instead of this host: ssh://[user@]host[:port], adb://SERIAL, "
                      "adb://host:port, local. Repeat for several devices (measured concurrently). "
                      "Per device: ?python=PATH (its python with numpy + a runtime), ?tmpdir=DIR."),
    click.option("--benchmark-binary", type=params.BINARY_FILE,
                 help="TFLite benchmark_model for the Android device's ABI (else "
                      "$XDG_CACHE_HOME/edgekit/benchmark_model/<abi>/benchmark_model). Never downloaded."),
    click.option("--cooldown", type=params.COOLDOWN_SECONDS, help="Seconds to pause between runs on the same device."),
    click.option("--ssh-config", type=params.CONFIG_FILE, envvar="EDGEKIT_SSH_CONFIG",
                 help="ssh config file to use instead of ~/.ssh/config (env EDGEKIT_SSH_CONFIG)."),
    click.option("--adb-server-port", type=params.PORT, help="adb server port (default: $ANDROID_ADB_SERVER_PORT or 5037)."),
    click.option("--validate", is_flag=True,
                 help="Also run evaluation photos through the file on each device and compare with this host's "
                      "outputs of the same file."),
    click.option("--data", type=params.DATA,
                 help="With --validate: images folder or model-ready .npy (default: edgekit's photos)."),
]


def device_options(fn):
    """Add the device flags; the command receives them as one ``devices: DeviceRequest``."""

    @functools.wraps(fn)
    def wrapper(*a, device_uris, benchmark_binary, cooldown, ssh_config, adb_server_port, validate, data, **kw):
        req = DeviceRequest(tuple(device_uris), ssh_config, adb_server_port, benchmark_binary, cooldown,
                            validate, data)
        return fn(*a, devices=req, **kw)

    for o in reversed(_OPTIONS):
        wrapper = o(wrapper)
    return wrapper


def run_on_devices(files, cfg, req: DeviceRequest, db, label: Optional[str], as_json: bool) -> None:
    from ..devices.fleet import bench_devices
    from .results_options import command_line

    recorded = {"run_id": None, "rows": 0}

    def record(results: list) -> None:
        if db is not None:
            recorded["run_id"] = db.record_bench(results, run_id=recorded["run_id"],
                                                 label=label, command=command_line())
            recorded["rows"] += len(results)

    report = bench_devices(list(files), cfg, list(req.uris), req.options(), progress, req.validate, req.data, record)
    if recorded["run_id"] is not None:
        report.run_id, report.db = recorded["run_id"], str(db.path)
        progress(f"recorded {recorded['rows']} row(s) as run {report.run_id} in {db.path}")
    if report.results:
        emit(report, as_json, human)
    if report.errors:
        kept = f"; {len(report.results)} result(s) kept" if report.results else ""
        kept += f" (run {report.run_id})" if report.results and report.run_id else ""
        lines = [e["error"] for e in report.errors]
        head = f"{len(lines)} of {len(req.uris)} devices failed: " if len(req.uris) > 1 else ""
        raise DeviceError(head + "; ".join(lines) + kept)


def _validation_cell(r) -> Optional[str]:
    v = r.doc.get("validation")
    if not v:
        return None
    if v.get("status") == "equal":
        return f"equal ({v['samples']})"
    if v.get("status") == "differs":
        ci = v.get("top1_agreement_ci95")
        sqnr = f", SQNR {v['sqnr_db']:.1f} dB" if v.get("sqnr_db") is not None else ""
        return (f"max|d| {v['max_abs_diff']:.3g}, top1 {v['top1_agreement']:.0%}"
                + (f" (95% CI {100 * ci[0]:.0f}-{100 * ci[1]:.0f}%)" if ci else "")
                + (f", cos {v['cosine_mean']:.4f}" if v.get("cosine_mean") is not None else "") + sqnr)
    return v.get("status")


def human(report) -> str:
    from ..runtime_bench.bench import result_row

    rows = []
    for r in report.results:
        row = result_row(r)
        pin = r.doc["device"].get("pinning")
        how = "bm" if r.runtime == "benchmark_model" else "runner.py"
        row.update({"device": r.where, "method": how + (f"@{pin['mask']}" if pin else ""),
                    "validation": _validation_cell(r)})
        rows.append(row)
    cols = [c for c in COLUMNS if c[0] != "validation" or any(r["validation"] for r in rows)]
    lines = [table(rows, cols)]
    for q in report.ratios:
        lines.append(f"{q['device']}: {q['format']} ({q['engine']}, {q['threads']} thr): {q['precision']} is "
                     f"{q['speedup']:.2f}x as fast as fp32 ({q['statistic'][:-3]} {q['baseline_ms']:.2f} -> "
                     f"{q['candidate_ms']:.2f} ms)")
    seen = set()
    for r in report.results:
        d = r.doc["device"]
        if r.where not in seen:
            seen.add(r.where)
            lines.append(f"{r.where}: {d.get('arch')}, {d.get('os')}, {d.get('model') or d.get('cpu_model')}; "
                         f"timer: {r.timer}" + ("; p50/p90/p99 not reported by benchmark_model (mean/std/min/max are)"
                                                if r.doc.get("stats_unavailable") else ""))
        for w in d["warnings"]:
            if (r.where, w) not in seen:
                seen.add((r.where, w))
                lines.append(f"  warning: {w}")
    return "\n".join(lines)
