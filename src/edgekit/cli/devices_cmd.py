"""`edgekit devices URI... [--json]`: what a device is and whether edgekit can measure on it."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import DeviceError, EdgekitError
from .common import emit, handle_errors, json_option, progress


def _cpus(cpus: list[int]) -> str:
    return f"{cpus[0]}-{cpus[-1]}" if cpus == list(range(cpus[0], cpus[-1] + 1)) and len(cpus) > 1 else \
        ",".join(map(str, cpus))


def _describe(uri: str, options) -> dict:
    from ..devices import connect
    from ..devices import benchmark_model as bm
    from ..devices.probe import big_core_mask, runtime_for, state_warnings
    from ..formats import FORMATS

    with connect(uri, options) as target:
        info = target.describe()
        info["can_run"] = {}
        for fmt in FORMATS.names():
            rt = runtime_for(info, fmt)
            info["can_run"][fmt] = f"runner.py with {rt[0]} {rt[1]}" if rt else None
        if target.kind == "adb":
            binary = bm.find_binary(info.get("abi"), options.benchmark_binary)
            info["benchmark_model"] = str(binary) if binary else None
            if binary:
                info["can_run"]["tflite"] = f"benchmark_model ({binary})"
            info["big_core_mask"] = big_core_mask(info.get("cpus") or [], 1)
        info["warnings"] = state_warnings(info["state"])
        return info


def human(doc: dict) -> str:
    out = []
    for info in doc["devices"]:
        st = info["state"]
        thr = st.get("throttled")
        rows = [
            ("arch", info["arch"] + (f" (ABI {info['abi']})" if info.get("abi") else "")),
            ("os", info.get("os")), ("kernel", info.get("kernel")), ("model", info.get("model")),
            ("soc", info.get("soc")), ("cpu", f"{info.get('cpu_model')}; {info.get('cores')} cores usable"),
            ("clusters", "; ".join(f"cpus {_cpus(c['cpus'])} @ {c['max_mhz']} MHz" + (f" ({c['core']})" if c.get("core") else "")
                                   for c in info["clusters"]) or "unknown (no cpufreq in sysfs)"),
            ("governor", st.get("governor") or "unknown (no scaling_governor readable)"),
            ("temperature", f"{st['temperature_c']:.1f} degC" if st.get("temperature_c") is not None
             else "unknown (no readable thermal zone)"),
            ("throttling", (f"{thr['raw']}: now {', '.join(thr['now']) or 'none'}; since boot "
                            f"{', '.join(thr['since_boot']) or 'none'}") if thr and "raw" in thr else
             (f"Android thermal status {st['android_thermal_status']}" if st.get("android_thermal_status") is not None
              else "unknown (no vcgencmd / thermal service)")),
            ("memory", f"{info['mem_total_mb']} MB" if info.get("mem_total_mb") else None),
            ("python", f"{info['python_cmd']}: Python {info['python']}; " + (", ".join(
                f"{k} {v}" for k, v in info["runtimes"].items() if v) or "no numpy/runtimes")
             if info.get("python") else f"{info['python_cmd']}: not found"),
        ]
        for fmt, how in info["can_run"].items():
            rows.append((f"runs .{fmt}" if fmt != "openvino" else "runs .xml", how or "no"))
        if "benchmark_model" in info:
            rows.append(("benchmark_model", info["benchmark_model"] or "none found (--benchmark-binary PATH)"))
            m = info.get("big_core_mask")
            rows.append(("big cores", f"taskset {m['mask']} (cpus {_cpus(m['cpus'])})" if m else "all cores alike"))
        if info.get("synthetic_sysfs"):
            rows.append(("note", info["synthetic_sysfs"]))
        if info.get("standin"):
            rows.append(("note", "adb STAND-IN (edgekit test rig), not a phone"))
        rows += [("warning", w) for w in info["warnings"]]
        width = max(len(k) for k, _ in rows)
        out.append(info["uri"])
        out += [f"  {k.ljust(width)}  {v}" for k, v in rows if v is not None]
    return "\n".join(out)


@click.command("devices")
@click.argument("uris", nargs=-1, required=True, metavar="URI...")
@click.option("--ssh-config", type=click.Path(path_type=Path), envvar="EDGEKIT_SSH_CONFIG",
              help="ssh config file to use instead of ~/.ssh/config (env EDGEKIT_SSH_CONFIG).")
@click.option("--adb-server-port", type=int, help="adb server port (default: $ANDROID_ADB_SERVER_PORT or 5037).")
@click.option("--benchmark-binary", type=click.Path(path_type=Path),
              help="benchmark_model to report for Android devices (see `edgekit bench --help`).")
@json_option
@handle_errors
def command(uris, ssh_config, adb_server_port, benchmark_binary, as_json):
    """Probe devices: architecture, OS, CPU and big/little clusters, governor, temperature,
    throttling, and the runtimes edgekit can use there.

    URI: local, ssh://[user@]host[:port] (your ssh config applies), adb://SERIAL or adb://host:port.
    """
    from ..devices import DeviceOptions, parse_uri

    for u in uris:
        parse_uri(u)  # all checked before connecting anywhere
    options = DeviceOptions(ssh_config=ssh_config, adb_server_port=adb_server_port, benchmark_binary=benchmark_binary)
    infos, errors = [], []
    for u in uris:
        progress(f"devices: probing {u}")
        try:
            infos.append(_describe(u, options))
        except EdgekitError as exc:
            if len(uris) == 1:
                raise
            errors.append(str(exc))
    if infos:
        emit({"devices": infos}, as_json, human)
    if errors:
        raise DeviceError(f"{len(errors)} of {len(uris)} devices failed: " + "; ".join(errors))
