"""A two-node Ray cluster on this machine (a head and a worker, each its own `ray start`
process tree): `edgekit sweep --ray-address` runs on it, and the Pi, declared on the worker
node only, is benched from that node (only that node's environment has the Pi's ssh config).

Note: Ray replaces 127.0.0.1 with this machine's own address (services.resolve_ip_for_localhost),
so both nodes listen there; token authentication (RAY_AUTH_MODE=token) keeps that closed."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="pip install 'edgekit[sweep]' (scripts/test.sh does)")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import REPO, run_cli  # noqa: E402
from device_rig import pi_uri, rig  # noqa: E402,F401
from sweep_helpers import SHORT, jobs  # noqa: E402

pytestmark = [pytest.mark.rig, pytest.mark.slow]
RAY = Path(sys.executable).with_name("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_start(args: list, log: Path, env: dict) -> subprocess.Popen:
    proc = subprocess.Popen([str(RAY), "start", "--block", "--num-cpus", "1", "--object-store-memory", "100000000",
                             *args], stdin=subprocess.DEVNULL, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env=env, start_new_session=True)
    deadline = time.monotonic() + 180
    while "Ray runtime started" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(1)
    return proc


def _stop(procs: list) -> None:
    """SIGTERM each `ray start --block` we started (it stops its node's processes), then SIGKILL its
    process group if it is still there after a minute."""
    for p in procs:
        os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    for p in procs:
        try:
            p.wait(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=30)


def test_sweep_on_a_two_node_cluster_benches_the_pi_from_its_node(rig, tmp_path):
    from edgekit.sweep.cluster import node_resources

    port, pi = _free_port(), pi_uri(rig)
    env = {k: v for k, v in os.environ.items() if k not in ("EDGEKIT_SSH_CONFIG", "RAY_ADDRESS")}
    env.update(RAY_AUTH_MODE="token", RAY_USAGE_STATS_ENABLED="0",
               PYTHONPATH=str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", ""))
    procs = []
    try:
        procs.append(_ray_start(["--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
                                 "--include-dashboard", "false", "--resources", node_resources(["local"])],
                                tmp_path / "head.log", env))
        worker_env = {**env, "EDGEKIT_SSH_CONFIG": rig["PI_SSH_CONFIG"]}  # this node reaches the Pi
        procs.append(_ray_start(["--address", f"127.0.0.1:{port}", "--node-ip-address", "127.0.0.1",
                                 "--resources", node_resources([pi])], tmp_path / "worker.log", worker_env))
        db = tmp_path / "r.sqlite"
        proc = run_cli("sweep", "--models", "mobilenet_v1_0_25", "--input-size", "32", "--formats", "onnx",
                       "--devices", f"local,{pi}", *SHORT, "--ray-address", f"127.0.0.1:{port}",
                       "--out", tmp_path / "o", "--db", db, env=env, timeout=900)
    finally:
        _stop(procs)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Ray cluster at 127.0.0.1:" in proc.stderr and "2 CPUs, 2 node(s)" in proc.stderr
    benches = {b["device"]: b for b in jobs(db, "bench", "done")}
    assert set(benches) == {"local", pi}
    assert benches[pi]["node"] != benches["local"]["node"]  # each on the node that declares it
