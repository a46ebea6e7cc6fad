"""What a device is and what state it is in, from one POSIX shell script per question.

The scripts run unchanged under dash/bash (Raspberry Pi OS, Debian), Android's mksh + toybox
and busybox, and read only files and tools a non-root user can: uname, /etc/os-release or
getprop, /proc/cpuinfo, cpufreq in sysfs (max frequency per core -> big/little clusters,
governor), thermal zones, `vcgencmd get_throttled` (Raspberry Pi firmware) or
`dumpsys thermalservice` (Android), and the device's python (runtimes found with
importlib.util.find_spec + importlib.metadata: importing onnxruntime alone takes 4 s on an
emulated Pi, and a probe must stay cheap).  Parsing is separate from running, so it is tested
on canned outputs.
"""
from __future__ import annotations

import json
import re
from typing import Optional

from ..formats import FORMATS
from ..runtime_bench.engines import ENGINES
from ..runtime_bench.runner import BACKENDS

HOT_C = 70.0  # a Pi 4 throttles at 80-85 degC; at 70 results already drift on passively cooled boards

# Under emulation every exec costs ~0.1-0.5 s, so each script execs as few programs as it can:
# one `grep -Hs . FILES` prints "path:value" for every readable file at once.
_C = "/sys/devices/system/cpu/cpu[0-9]*"
_CPUS = f"grep -Hs . {_C}/cpufreq/cpuinfo_max_freq {_C}/cpufreq/scaling_governor {_C}/cpufreq/scaling_cur_freq {_C}/online"
_THERMAL = r'''grep -Hs . /sys/class/thermal/thermal_zone*/temp /sys/class/thermal/thermal_zone*/type
echo "@@vcgencmd"; if command -v vcgencmd >/dev/null 2>&1; then vcgencmd get_throttled; vcgencmd measure_temp; fi
echo "@@thermalservice"; if command -v dumpsys >/dev/null 2>&1; then dumpsys thermalservice 2>/dev/null | grep -i -m1 "Thermal Status"; fi
echo "@@loadavg"; read -r ek_load ek_rest < /proc/loadavg && echo "$ek_load"'''

# $1: the device's python, $2: PYTHON_PROBE.  Sections start with "@@name".
PROBE_SCRIPT = r'''echo "@@uname"; uname -mr
echo "@@getprop"; if command -v getprop >/dev/null 2>&1; then getprop; fi
echo "@@files"; grep -Hs . /etc/os-release /proc/cpuinfo /sys/SYNTHETIC_README /proc/meminfo
echo "@@nproc"; nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null
echo "@@cpus"; ''' + _CPUS + r'''
echo "@@tools"; for t in taskset mktemp; do command -v $t 2>/dev/null; done
echo "@@python"; "$1" -c "$2" 2>&1
echo "@@thermal"; ''' + _THERMAL

STATE_SCRIPT = r'''echo "@@cpus"; ''' + _CPUS + r'''
echo "@@thermal"; ''' + _THERMAL

PYTHON_PROBE = r'''import json, platform, sys
import importlib.util as u
try:
    import importlib.metadata as m
except ImportError:
    m = None
out = {"python": platform.python_version(), "executable": sys.executable}
for mod, dists in %s:
    try:
        found = u.find_spec(mod) is not None
    except Exception:
        found = False
    version = "?" if found else None
    for dist in dists.split() if found and m else ():
        try:
            version = m.version(dist)
            break
        except Exception:
            pass
    out[mod] = version
print("EDGEKIT_PROBE " + json.dumps(out))
''' % repr([("numpy", "numpy")] + [rt for b in BACKENDS.values() for rt in b.runtimes])



def runtimes_for_format(fmt: str) -> tuple[tuple[str, str], ...]:
    """(module, pip names) able to run ``fmt`` with runner.py: its default engine's runtimes, best first."""
    return ENGINES.get(FORMATS.get(fmt).default_engine).runtimes


def install_for_format(fmt: str) -> str:
    """What to pip-install on a device so runner.py runs ``fmt``."""
    return f"{runtimes_for_format(fmt)[0][1].split()[0]} numpy"

# ARM "CPU part" (implementer 0x41) -> core name
ARM_PARTS = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
             "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
             "0xd0d": "Cortex-A77", "0xd41": "Cortex-A78", "0xd44": "Cortex-X1", "0xd46": "Cortex-A510",
             "0xd47": "Cortex-A710", "0xd48": "Cortex-X2", "0xd4d": "Cortex-A715", "0xd4e": "Cortex-X3",
             "0xd80": "Cortex-A520", "0xd81": "Cortex-A720", "0xd82": "Cortex-X4"}
THROTTLE_BITS = {0: "under-voltage", 1: "arm frequency capped", 2: "throttled", 3: "soft temperature limit"}


def sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    cur = None
    for line in text.splitlines():
        if line.startswith("@@"):
            cur = line[2:].strip()
            out[cur] = []
        elif cur is not None:
            out[cur].append(line)
    return out


def grep_h(lines: list[str]) -> list[tuple[str, str]]:
    """`grep -H` output -> [(path, value)]."""
    out = []
    for line in lines:
        path, sep, value = line.partition(":")
        if sep and path.startswith("/"):
            out.append((path, value))
    return out


def grep_files(lines: list[str], pattern: str) -> list[tuple[str, str, str]]:
    """`grep -H` lines whose path matches ``pattern`` (groups: the item, the file) -> [(item, file, value)]."""
    out = []
    for path, value in grep_h(lines):
        m = re.search(pattern, path)
        if m:
            out.append((m.group(1), m.group(2), value.strip()))
    return out


def parse_cpus(lines: list[str]) -> list[dict]:
    """grep -H of cpuN/cpufreq/{cpuinfo_max_freq,scaling_governor,scaling_cur_freq} and cpuN/online."""
    cpus: dict[int, dict] = {}
    for cpu, key, value in grep_files(lines, r"/cpu(\d+)/(?:cpufreq/)?(\w+)$"):
        c = cpus.setdefault(int(cpu), {"cpu": int(cpu), "max_khz": None, "governor": None,
                                       "cur_khz": None, "online": True})
        if key == "cpuinfo_max_freq" and value.isdigit():
            c["max_khz"] = int(value)
        elif key == "scaling_cur_freq" and value.isdigit():
            c["cur_khz"] = int(value)
        elif key == "scaling_governor":
            c["governor"] = value or None
        elif key == "online":
            c["online"] = value != "0"
    return [cpus[k] for k in sorted(cpus)]


def clusters(cpus: list[dict]) -> list[dict]:
    """Cores grouped by max frequency, slowest first (big.LITTLE: little, big, prime)."""
    groups: dict[int, list[int]] = {}
    for c in cpus:
        if c["max_khz"]:
            groups.setdefault(c["max_khz"], []).append(c["cpu"])
    return [{"cpus": groups[f], "max_mhz": f // 1000} for f in sorted(groups)]


def big_core_mask(cpus: list[dict], threads: int) -> Optional[dict]:
    """The fastest cluster(s) with at least ``threads`` cores, as a taskset hex mask.

    Clusters are taken fastest first until they hold >= threads cores (a phone with 1 prime +
    3 big + 4 little: 1 thread -> the prime core, 4 threads -> prime + big).  None when the
    frequencies are unknown or all cores are alike (nothing to choose; no pinning).
    """
    groups = clusters([c for c in cpus if c["online"]])
    if len(groups) < 2:
        return None
    chosen: list[int] = []
    for g in reversed(groups):
        chosen += g["cpus"]
        if len(chosen) >= threads:
            break
    if len(chosen) == sum(len(g["cpus"]) for g in groups):
        return None  # every core: pinning would change nothing
    mask = sum(1 << c for c in chosen)
    return {"mask": format(mask, "x"), "cpus": sorted(chosen),
            "reason": f"fastest cores ({max(g['max_mhz'] for g in groups)} MHz cluster first) for {threads} thread(s)"}


def parse_cpuinfo(lines: list[str]) -> dict:
    """Board/SoC/model name and per-processor ARM core names."""
    info: dict = {}
    parts: dict[int, str] = {}
    proc = None
    for line in lines:
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "processor" and value.isdigit():
            proc = int(value)
        elif key == "CPU part" and proc is not None:
            parts[proc] = ARM_PARTS.get(value.lower(), f"ARM part {value}")
        elif key and value:
            info.setdefault(key, value)
    info["parts"] = parts
    return info


def cpu_model(cpuinfo: dict) -> Optional[str]:
    if cpuinfo.get("model name"):
        return cpuinfo["model name"]
    parts = cpuinfo.get("parts") or {}
    if parts:
        counts: dict[str, int] = {}
        for p in parts.values():
            counts[p] = counts.get(p, 0) + 1
        return " + ".join(f"{n}x {p}" for p, n in counts.items())
    return cpuinfo.get("Hardware") or cpuinfo.get("cpu model")


def parse_throttled(lines: list[str]) -> Optional[dict]:
    out: dict = {}
    for line in lines:
        m = re.match(r"throttled=(0x[0-9a-fA-F]+)", line.strip())
        if m:
            v = int(m.group(1), 16)
            out.update({"raw": m.group(1), "now": [n for b, n in THROTTLE_BITS.items() if v >> b & 1],
                        "since_boot": [n for b, n in THROTTLE_BITS.items() if v >> (b + 16) & 1]})
        m = re.match(r"temp=([\d.]+)", line.strip())
        if m:
            out["temp_c"] = float(m.group(1))
    return out or None


def parse_thermal(lines: list[str]) -> list[dict]:
    zones: dict[str, dict] = {}
    for zone, key, value in grep_files(lines, r"/(thermal_zone\d+)/(temp|type)$"):
        z = zones.setdefault(zone, {"zone": zone, "type": "", "temp_c": None})
        if key == "type":
            z["type"] = value
        elif re.fullmatch(r"-?\d+", value):
            v = int(value)
            z["temp_c"] = v / 1000 if abs(v) > 200 else float(v)  # millidegrees (a few report degrees)
    return [z for z in zones.values() if z["temp_c"] is not None]


def parse_state(sec: dict[str, list[str]]) -> dict:
    """Device state at one moment: governors, current frequencies, temperatures, throttling, load."""
    cpus = parse_cpus(sec.get("cpus", []))
    zones = parse_thermal(sec.get("thermal", []))
    throttled = parse_throttled(sec.get("vcgencmd", []))
    temps = [z["temp_c"] for z in zones] + ([throttled["temp_c"]] if throttled and "temp_c" in throttled else [])
    govs = sorted({c["governor"] for c in cpus if c["governor"] and c["online"]})
    status = " ".join(sec.get("thermalservice", [])).strip()
    m = re.search(r"Thermal Status:\s*(\d+)", status)
    load = (sec.get("loadavg") or [""])[0].split()
    return {"governors": govs, "governor": govs[0] if len(govs) == 1 else ("mixed" if govs else None),
            "cur_mhz": {c["cpu"]: c["cur_khz"] // 1000 for c in cpus if c["cur_khz"]},
            "temperature_c": max(temps) if temps else None, "thermal_zones": zones, "throttled": throttled,
            "android_thermal_status": int(m.group(1)) if m else None,
            "loadavg_1m": float(load[0]) if load and re.fullmatch(r"[\d.]+", load[0]) else None}


def state_warnings(state: dict, when: str = "") -> list[str]:
    """What makes a measurement less trustworthy, one short sentence each."""
    w = []
    pre = f"{when}: " if when else ""
    govs = [g for g in state.get("governors") or [] if g != "performance"]
    if govs:
        w.append(f"{pre}CPU governor is {'/'.join(govs)}, not performance: frequency scaling adds noise")
    t = state.get("temperature_c")
    if t is not None and t >= HOT_C:
        w.append(f"{pre}device is hot ({t:.0f} degC >= {HOT_C:.0f}); results may be throttled (try --cooldown)")
    thr = state.get("throttled") or {}
    if thr.get("now"):
        w.append(f"{pre}throttled now ({', '.join(thr['now'])}; vcgencmd get_throttled={thr['raw']})")
    if (state.get("android_thermal_status") or 0) > 0:
        w.append(f"{pre}Android thermal status {state['android_thermal_status']} (0 = none): throttling likely")
    return w


def parse_python(lines: list[str]) -> Optional[dict]:
    for line in lines:
        if line.startswith("EDGEKIT_PROBE "):
            try:
                return json.loads(line[len("EDGEKIT_PROBE "):])
            except json.JSONDecodeError:
                return None
    return None


def parse_probe(text: str, python: str) -> dict:
    sec = sections(text)
    uname = (sec.get("uname") or [""])[0].split()  # `uname -mr`: release machine
    files: dict[str, list[str]] = {}
    for path, value in grep_h(sec.get("files", [])):
        files.setdefault(path, []).append(value)
    osr = dict(line.split("=", 1) for line in files.get("/etc/os-release", []) if "=" in line)
    props = {m.group(1): m.group(2) for m in re.finditer(r"^\[([^\]]+)\]: \[(.*)\]$", "\n".join(sec.get("getprop", [])),
                                                         re.M) if m.group(2)}
    cpuinfo = parse_cpuinfo(files.get("/proc/cpuinfo", []))
    cpus = parse_cpus(sec.get("cpus", []))
    py = parse_python(sec.get("python", []))
    nproc = (sec.get("nproc") or [""])[0].strip()
    mem = {ln.split(":")[0]: int(ln.split()[1]) // 1024 for ln in files.get("/proc/meminfo", [])
           if len(ln.split()) >= 2 and ln.split()[1].isdigit()}
    if props.get("ro.build.version.release"):
        os_name = f"Android {props['ro.build.version.release']} (SDK {props.get('ro.build.version.sdk', '?')})"
    else:
        os_name = osr.get("PRETTY_NAME", "").strip('"') or None
    model = cpuinfo.get("Model") or " ".join(filter(None, [props.get("ro.product.manufacturer"),
                                                           props.get("ro.product.model")])) or None
    cl = clusters(cpus)
    for g in cl:
        names = {cpuinfo["parts"].get(c) for c in g["cpus"]} - {None}
        g["core"] = names.pop() if len(names) == 1 else None
    runtimes = {k: v for k, v in (py or {}).items() if k not in ("python", "executable")}
    info = {
        "arch": uname[-1] if uname else None, "kernel": uname[0] if len(uname) > 1 else None,
        "abi": props.get("ro.product.cpu.abi"), "os": os_name, "model": model,
        "soc": props.get("ro.soc.model") or props.get("ro.board.platform") or cpuinfo.get("Hardware"),
        "cpu_model": cpu_model(cpuinfo), "cores": int(nproc) if nproc.isdigit() else len(cpus) or None,
        "cpus": [{k: c[k] for k in ("cpu", "max_khz", "online")} for c in cpus], "clusters": cl,
        "mem_total_mb": mem.get("MemTotal"), "python": (py or {}).get("python"), "python_cmd": python,
        "runtimes": runtimes, "tools": [t.strip().rsplit("/", 1)[-1] for t in sec.get("tools", []) if t.strip()],
        "synthetic_sysfs": " ".join(files.get("/sys/SYNTHETIC_README", [])).strip() or None,
        "standin": props.get("ro.edgekit.standin") == "1",
    }
    if py is None:
        info["python_error"] = " ".join(sec.get("python", []))[-200:].strip() or "no output"
    info["state"] = parse_state(sec)
    return info


def runtime_for(info: dict, fmt: str) -> Optional[tuple[str, str]]:
    """(module, version) of the runtime runner.py would use for ``fmt`` on this device, if any."""
    rts = info.get("runtimes") or {}
    if not rts.get("numpy"):
        return None
    for mod, _ in runtimes_for_format(fmt):
        if rts.get(mod):
            return mod, rts[mod]
    return None
