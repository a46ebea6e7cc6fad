"""Device URIs (devices/uri.py): one grammar per scheme; local's settings work; every malformed
URI is one clear line before anything is contacted."""
from __future__ import annotations

import json
import sys

import pytest

from bench_models import relu_onnx
from conftest import assert_clean_error, run_cli

from edgekit.devices.targets import parse_uri
from edgekit.errors import ConfigError


@pytest.mark.parametrize("text, want", [
    ("local", {"scheme": "local", "python": sys.executable, "tmpdir": None}),
    ("local://", {"scheme": "local", "python": sys.executable}),
    ("local://?python=/opt/py/bin/python3&tmpdir=/var/tmp", {"scheme": "local", "python": "/opt/py/bin/python3",
                                                             "tmpdir": "/var/tmp"}),
    ("ssh://pi@[fe80::1]:2222", {"scheme": "ssh", "user": "pi", "host": "fe80::1", "port": 2222}),
    ("ssh://[::1]", {"scheme": "ssh", "host": "::1", "user": None, "port": None}),
    ("ssh://Edgekit-Pi/", {"scheme": "ssh", "host": "Edgekit-Pi"}),
    ("ssh://pi@10.0.0.7?tmpdir=/home/pi/t%20mp", {"host": "10.0.0.7", "tmpdir": "/home/pi/t mp"}),
    ("adb://emulator-5554?python=/data/local/tmp/py", {"scheme": "adb", "serial": "emulator-5554",
                                                        "python": "/data/local/tmp/py"}),
    ("adb://127.0.0.1:5555", {"serial": "127.0.0.1:5555"}),
    ("ADB://R58M", {"scheme": "adb", "serial": "R58M"}),
])
def test_valid_uris(text, want):
    u = parse_uri(text)
    assert {k: getattr(u, k) for k in want} == want


@pytest.mark.parametrize("text, needle", [
    ("ssh://u@[::1", "not ssh://[user@]host[:port]"),
    ("ssh://u@[nonsense]", "not an ipv6 address"),
    ("ssh://pi:0", "ports are 1-65535"), ("ssh://pi:70000", "ports are 1-65535"),
    ("ssh://pi:port", "not ssh://"), ("ssh://", "not ssh://"), ("ssh://a@b@c", "not ssh://"),
    ("ssh://-oProxyCommand=touch%20x", "may not start with '-'"), ("ssh://-x@pi", "may not start with '-'"),
    ("adb://-s", "may not start with '-'"), ("adb://a b", "not adb://"),
    ("local://pi", "local takes none"), ("local://?python=", "needs a value"),
    ("local://?python=a&python=b", "given twice"), ("local://?pyhton=x", "unknown setting 'pyhton'"),
    ("ssh://pi/tmp/x", "has a path"), ("ssh://pi#frag", "fragment"), ("raspberrypi", "not a device uri"),
    ("sssh://pi", "did you mean 'ssh'"),
])
def test_malformed_uris(text, needle):
    with pytest.raises(ConfigError) as e:
        parse_uri(text)
    assert needle in str(e.value).lower() and "\n" not in str(e.value)


def test_malformed_uri_on_the_command_line_is_one_line(tmp_path):
    for args in (["devices", "ssh://u@[::1"], ["bench", relu_onnx(tmp_path), "--device", "ssh://u@[::1", "--no-record"]):
        assert_clean_error(run_cli(*args), "ssh://u@[::1")


def test_local_settings_are_used_not_taken_for_adb(tmp_path):
    """`local://?python=...&tmpdir=...` probes and benches this machine with that python, in that
    folder, and leaves the folder as it found it (no adb server is asked)."""
    work = tmp_path / "devtmp"
    work.mkdir()
    uri = f"local://?python={sys.executable}&tmpdir={work}"
    proc = run_cli("devices", uri, "--json", env={"ANDROID_ADB_SERVER_PORT": "1"})
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)["devices"][0]
    assert info["transport"] == "local" and info["python_cmd"] == sys.executable and info["python"]
    proc = run_cli("bench", relu_onnx(tmp_path), "--device", uri, "--min-runs", "2", "--min-seconds", "0",
                   "--warmup-seconds", "0", "--processes", "1", "--no-record", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)["results"][0]
    assert r["device"]["remote_dir"].startswith(f"{work}/edgekit.") and r["stats"]["runs"] >= 2
    assert list(work.iterdir()) == []
    bad = run_cli("devices", "local://?python=/nonexistent/python3", "--json")
    assert bad.returncode == 0 and json.loads(bad.stdout)["devices"][0]["python"] is None
