"""One contract for every Transport (local, ssh, adb): argv in, exit code and stderr out,
arguments arrive verbatim (no shell injection), push/pull round-trip, remove, and a temp dir that
is gone afterwards.  The local case needs no rig; ssh and adb use the rig (see device_rig.py)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from device_rig import rig  # noqa: E402,F401

from edgekit.devices import DeviceOptions, connect  # noqa: E402

NASTY = ["a b", "x;touch PWNED", "$(touch PWNED)", "`touch PWNED`", "it's", 'say "hi"', "a&b|c>d", "*", "~", "-n"]


class TransportContract:
    """Subclasses provide the ``target`` fixture (a connected Target)."""

    def test_argv_arrives_verbatim(self, target):
        with target.workdir() as d:
            r = target.transport.run(["sh", "-c", 'cd "$1" && shift && printf "%s\\n" "$@" && ls', "sh", d, *NASTY])
            assert r.returncode == 0, r.stderr
            assert r.stdout.split("\n")[:len(NASTY)] == NASTY
            assert r.stdout.split("\n")[len(NASTY):] == [""]  # ls: nothing was created

    def test_exit_code_and_stderr(self, target):
        r = target.transport.run(["sh", "-c", "echo out; echo oops >&2; exit 7"])
        assert (r.returncode, r.stdout.strip(), r.stderr.strip()) == (7, "out", "oops")

    def test_push_pull_remove_with_a_nasty_name(self, target, tmp_path):
        src = tmp_path / "src.bin"
        src.write_bytes(os.urandom(200_000))
        with target.workdir() as d:
            remote = f"{d}/{NASTY[2]} {NASTY[4]}.bin"
            target.transport.push(src, remote)
            back = tmp_path / "back.bin"
            target.transport.pull(remote, back)
            assert back.read_bytes() == src.read_bytes()
            target.transport.remove(remote)
            assert target.transport.run(["test", "-e", remote]).returncode == 1
        assert target.transport.run(["test", "-e", d]).returncode == 1  # the temp dir is gone too


class TestLocal(TransportContract):
    @pytest.fixture
    def target(self):
        with connect("local") as t:
            yield t


@pytest.mark.rig
class TestSSH(TransportContract):
    @pytest.fixture
    def target(self, rig):
        with connect(f"ssh://{rig['PI_HOST_ALIAS']}", DeviceOptions(ssh_config=Path(rig["PI_SSH_CONFIG"]))) as t:
            yield t


@pytest.mark.rig
class TestAdb(TransportContract):
    @pytest.fixture
    def target(self, rig):
        with connect(f"adb://{rig['ADB_SERIAL']}", DeviceOptions(adb_server_port=int(rig["ADB_SERVER_PORT"]))) as t:
            yield t
