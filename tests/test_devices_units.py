"""Device code that needs no rig: benchmark_model output parsing, big-core mask choice, URI
parsing, the one quoting point, probe parsing, and the whole device path on `--device local`."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import tiny_models  # noqa: E402
from conftest import assert_clean_error, run_cli  # noqa: E402

from edgekit.devices import benchmark_model as bm  # noqa: E402
from edgekit.devices import probe  # noqa: E402
from edgekit.devices.targets import parse_uri  # noqa: E402
from edgekit.devices.transport import remote_command  # noqa: E402
from edgekit.errors import ConfigError, DeviceError  # noqa: E402

# As printed by TFLite's benchmark_model (v2.x, Android), trimmed.
REAL_OUTPUT = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Num threads: [4]
INFO: Graph: [/data/local/tmp/mobilenet_v2_int8.tflite]
INFO: #threads used for CPU inference: [4]
INFO: Loaded model /data/local/tmp/mobilenet_v2_int8.tflite
INFO: The input model file size (MB): 4.02944
INFO: Initialized session in 3.512ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=71 first=12203 curr=6551 min=6410 max=12203 avg=7035.13 std=921

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=151 first=6690 curr=6501 min=6397 max=7850 avg=6612.41 std=215

INFO: Inference timings in us: Init: 3512, First inference: 12203, Warmup (avg): 7035.13, Inference (avg): 6612.41
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=6.76953 overall=13.3047
INFO: Overall peak memory footprint (MB) via periodic monitoring: 17.8125
"""


def test_parse_benchmark_model_output():
    p = bm.parse_output(REAL_OUTPUT)
    assert p["inference"] == {"count": 151, "first": 6690.0, "curr": 6501.0, "min": 6397.0, "max": 7850.0,
                              "avg": 6612.41, "std": 215.0}
    assert p["warmup"]["count"] == 71
    assert p["timings_us"] == {"init": 3512.0, "first_inference": 12203.0, "warmup_avg": 7035.13,
                               "inference_avg": 6612.41}
    assert p["memory_mb"] == {"init_delta": 6.76953, "overall_delta": 13.3047, "peak": 17.8125}
    assert p["standin"] is False
    s = bm.stats_ms(p)
    assert s["runs"] == 151 and s["mean_ms"] == pytest.approx(6.61241) and s["min_ms"] == pytest.approx(6.397)
    assert s["p50_ms"] is s["p90_ms"] is s["p99_ms"] is None  # not printed: never invented


def test_parse_benchmark_model_edge_cases():
    # all runs equal, scientific notation (C++ ostream, 6 significant digits), no peak line, no INFO prefix
    text = ("count=1 curr=1234567\ncount=5 curr=1200(all same)\n"
            "Inference timings in us: Init: 1.5e+06, First inference: 1234567, Warmup (avg): 1.23457e+06, "
            "Inference (avg): 1200\n")
    p = bm.parse_output(text)
    assert p["inference"] == {"count": 5, "first": 1200.0, "curr": 1200.0, "min": 1200.0, "max": 1200.0,
                              "avg": 1200.0, "std": 0.0}
    assert p["timings_us"]["init"] == 1.5e6 and p["memory_mb"]["peak"] is None
    with pytest.raises(DeviceError, match="printed no timings .*Failed to mmap"):
        bm.parse_output("ERROR: Could not open 'x'.\nERROR: Failed to mmap model x\n", "adb://x")


def _cpus(freqs, offline=()):
    return [{"cpu": i, "max_khz": f, "online": i not in offline} for i, f in enumerate(freqs)]


@pytest.mark.parametrize("freqs, threads, mask, cpus", [
    ([1800000] * 4 + [2800000] * 4, 1, "f0", [4, 5, 6, 7]),        # 4 little + 4 big
    ([1800000] * 4 + [2800000] * 4, 4, "f0", [4, 5, 6, 7]),
    ([1800000] * 4 + [2800000] * 4, 5, None, None),                 # needs every core: no pinning
    ([1800000] * 4 + [2400000] * 3 + [3000000], 1, "80", [7]),      # 4 little + 3 big + 1 prime
    ([1800000] * 4 + [2400000] * 3 + [3000000], 2, "f0", [4, 5, 6, 7]),
    ([1500000] * 4, 1, None, None),                                 # Raspberry Pi: all alike
    ([None] * 8, 1, None, None),                                    # no cpufreq: unknown
])
def test_big_core_mask(freqs, threads, mask, cpus):
    got = probe.big_core_mask(_cpus(freqs), threads)
    assert (got and got["mask"], got and got["cpus"]) == (mask, cpus)


def test_big_core_mask_ignores_offline_cores():
    got = probe.big_core_mask(_cpus([1800000] * 4 + [2800000] * 4, offline=(6, 7)), 2)
    assert got["mask"] == "30" and got["cpus"] == [4, 5]


def test_parse_uri():
    u = parse_uri("ssh://pi@Edgekit-Pi:2200?python=/home/pi/venv/bin/python&tmpdir=/tmp/a%20b")
    assert (u.scheme, u.user, u.host, u.port, u.python, u.tmpdir) == \
        ("ssh", "pi", "Edgekit-Pi", 2200, "/home/pi/venv/bin/python", "/tmp/a b")  # alias case kept
    assert parse_uri("ssh://edgekit-pi").python == "python3"
    assert parse_uri("adb://127.0.0.1:5600").serial == "127.0.0.1:5600"
    assert parse_uri("adb://R58M12ABC").serial == "R58M12ABC"
    assert parse_uri("adb://").serial is None
    assert parse_uri("local").scheme == "local"
    with pytest.raises(ConfigError, match="Did you mean 'ssh'"):
        parse_uri("sssh://pi")
    with pytest.raises(ConfigError, match="Unknown setting 'pyhton'.*Valid: python, tmpdir"):
        parse_uri("ssh://pi?pyhton=x")
    for bad in ("raspberrypi", "ssh://", "ssh://pi/tmp/x", "ssh://pi:notaport"):
        with pytest.raises(ConfigError):
            parse_uri(bad)


NASTY = ["a b", "x;touch /tmp/PWNED", "$(touch /tmp/PWNED)", "`id`", "it's", 'say "hi"', "a&b|c>d", "*", "~", ""]


def test_remote_command_is_the_argv_for_a_posix_shell(tmp_path):
    cmd = remote_command(["printf", "%s\\n", *NASTY])
    out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, cwd=tmp_path).stdout
    assert out.split("\n")[:-1] == NASTY
    assert list(tmp_path.iterdir()) == []  # nothing ran, nothing expanded


PI_PROBE = """@@uname
6.6.31+rpt-rpi-v8 aarch64
@@getprop
@@files
/etc/os-release:PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
/proc/cpuinfo:processor\t: 0
/proc/cpuinfo:CPU part\t: 0xd08
/proc/cpuinfo:processor\t: 1
/proc/cpuinfo:CPU part\t: 0xd08
/proc/cpuinfo:Model\t\t: Raspberry Pi 4 Model B Rev 1.4
/proc/meminfo:MemTotal:        3882420 kB
@@nproc
2
@@cpus
/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq:1800000
/sys/devices/system/cpu/cpu1/cpufreq/cpuinfo_max_freq:1800000
/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor:ondemand
/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor:ondemand
/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq:600000
@@tools
/usr/bin/taskset
@@python
EDGEKIT_PROBE {"python": "3.11.2", "executable": "/usr/bin/python3", "numpy": "1.24.2", "ai_edge_litert": null, "tflite_runtime": "2.14.0", "tensorflow": null, "onnxruntime": null, "openvino": null}
@@thermal
/sys/class/thermal/thermal_zone0/temp:74500
/sys/class/thermal/thermal_zone0/type:cpu-thermal
@@vcgencmd
throttled=0x50005
temp=74.5'C
@@thermalservice
@@loadavg
0.31
"""


def test_parse_probe_raspberry_pi():
    info = probe.parse_probe(PI_PROBE, "python3")
    assert (info["arch"], info["kernel"], info["os"]) == ("aarch64", "6.6.31+rpt-rpi-v8",
                                                          "Debian GNU/Linux 12 (bookworm)")
    assert info["model"] == "Raspberry Pi 4 Model B Rev 1.4" and info["cpu_model"] == "2x Cortex-A72"
    assert info["clusters"] == [{"cpus": [0, 1], "max_mhz": 1800, "core": "Cortex-A72"}]
    assert info["mem_total_mb"] == 3791 and info["cores"] == 2 and info["tools"] == ["taskset"]
    assert probe.runtime_for(info, "tflite") == ("tflite_runtime", "2.14.0")
    assert probe.runtime_for(info, "onnx") is None
    st = info["state"]
    assert st["governor"] == "ondemand" and st["temperature_c"] == 74.5 and st["cur_mhz"] == {0: 600}
    assert st["throttled"]["now"] == ["under-voltage", "throttled"]
    assert st["throttled"]["since_boot"] == ["under-voltage", "throttled"]
    warnings = " | ".join(probe.state_warnings(st))
    assert "governor is ondemand, not performance" in warnings and "hot (74 degC" in warnings
    assert "throttled now (under-voltage, throttled; vcgencmd get_throttled=0x50005)" in warnings


def test_parse_probe_android_and_cool_device():
    text = ("@@uname\n5.10.1 aarch64\n@@getprop\n[ro.product.cpu.abi]: [arm64-v8a]\n"
            "[ro.build.version.release]: [14]\n[ro.build.version.sdk]: [34]\n[ro.product.model]: [Pixel 7]\n"
            "[ro.product.manufacturer]: [Google]\n@@cpus\n"
            "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor:performance\n@@python\n"
            "/system/bin/sh: python3: inaccessible or not found\n@@thermal\n"
            "@@thermalservice\nThermal Status: 0\n")
    info = probe.parse_probe(text, "python3")
    assert (info["abi"], info["os"], info["model"]) == ("arm64-v8a", "Android 14 (SDK 34)", "Google Pixel 7")
    assert info["python"] is None and "not found" in info["python_error"]
    assert probe.state_warnings(info["state"]) == []


def test_benchmark_binary_abi_check(tmp_path):
    elf = tmp_path / "benchmark_model"
    elf.write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 11 + (62).to_bytes(2, "little") + b"\0" * 40)  # x86-64
    with pytest.raises(ConfigError, match="built for x86_64, but the device's ABI is arm64-v8a"):
        bm.check_binary(elf, "arm64-v8a", "adb://x")
    assert bm.check_binary(elf, "x86_64", "adb://x")["kind"] == "elf"
    (tmp_path / "junk").write_bytes(b"junk")
    with pytest.raises(ConfigError, match="not an executable"):
        bm.check_binary(tmp_path / "junk", "arm64-v8a", "adb://x")


def test_benchmark_binary_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("EDGEKIT_BENCHMARK_MODEL", raising=False)
    assert bm.find_binary("arm64-v8a", None) is None
    assert str(tmp_path / "edgekit/benchmark_model/arm64-v8a/benchmark_model") in \
        bm.missing_binary_message("adb://x", "arm64-v8a")
    f = tmp_path / "edgekit/benchmark_model/arm64-v8a/benchmark_model"
    f.parent.mkdir(parents=True)
    f.write_text("#!/bin/sh\n")
    assert bm.find_binary("arm64-v8a", None) == f
    assert bm.find_binary("armeabi-v7a", None) is None


# ---- the whole device path, on this machine ----

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_models(tmp_path_factory)


def test_local_device_bench_validate_and_record(tmp_path, models):
    db = tmp_path / "r.sqlite"
    proc = run_cli("bench", models["onnx"], "--device", "local", "--validate", "--min-runs", "3",
                   "--min-seconds", "0", "--warmup-seconds", "0", "--threads", "1,2", "--cooldown", "0.2",
                   "--json", "--db", db)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("local: cooling down 0.2 s") == 1  # between the two runs, not before the first
    r, r2 = json.loads(proc.stdout)["results"]
    assert r2["threads"] == 2 and "validation" not in r2 and r2["device"]["cooldown_s"] == 0.2
    assert r["where"] == "local" and r["file"] == str(models["onnx"]) and r["stats"]["runs"] >= 3
    assert r["validation"]["status"] == "equal" and r["validation"]["samples"] == 12
    assert r["device"]["method"].startswith("runner.py (onnxruntime") and r["device"]["state_before"] is not None
    assert not Path(r["device"]["remote_dir"]).exists()  # the temp dir is gone
    rows = sqlite3.connect(db).execute("SELECT engine, result_json FROM benchmarks").fetchall()
    assert len(rows) == 2 and json.loads(rows[0][1])["where"] == "local"


def test_device_flags_need_a_device(models):
    assert_clean_error(run_cli("bench", models["onnx"], "--validate", "--no-record"), "--validate needs --device")
    assert_clean_error(run_cli("bench", models["onnx"], "--device", "sssh://x", "--no-record"),
                       "Did you mean 'ssh'")
    assert_clean_error(run_cli("devices", "ssh://x", "--ssh-config", "/nonexistent/config"),
                       "--ssh-config", "'/nonexistent/config' does not exist")
