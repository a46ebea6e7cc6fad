"""Where a sweep runs: Ray in-process on this machine, or a Ray cluster joined by address.

Devices are Ray custom resources named ``edgekit-device:<URI>`` with a capacity of 1, declared
on the node that reaches the device (its ssh config, its adb server): in-process, this
machine declares every --devices URI; on a cluster, each node declares its own at start,
``ray start ... --resources '{"edgekit-device:ssh://pi": 1}'``. A bench task asks for its
device's resource, so Ray runs it on that node and never runs two on one device at a time.

Ray is imported here only, and only when a sweep runs (``edgekit[sweep]``).
"""
from __future__ import annotations

import logging
import os
import re
import socket
from dataclasses import dataclass
from typing import Optional

from .._optional import require
from ..errors import ConfigError, DeviceError

PREFIX = "edgekit-device:"
CONNECT_TIMEOUT_S = 5.0
ADDRESS_HELP = "Valid: auto, HOST:PORT (a head's GCS port, 6379 by default) or ray://HOST:PORT (Ray Client, 10001)"


def resource(uri: str) -> str:
    return PREFIX + uri


def node_resources(uris) -> str:
    """The --resources JSON that declares these devices on a node (`ray start`)."""
    import json

    return json.dumps({resource(u): 1 for u in uris})


@dataclass
class Cluster:
    ray: object  # the ray module
    address: Optional[str]  # None: in-process
    device_nodes: dict  # device URI -> node id
    node_cpus: dict  # node id -> CPUs
    driver_node: Optional[str]  # None with Ray Client (the driver is not on a node)
    startup_s: float = 0.0

    @property
    def cpus(self) -> int:
        return int(sum(self.node_cpus.values()))

    def shutdown(self) -> None:
        self.ray.shutdown()


def _host_port(text: str) -> tuple[str, int]:
    m = re.fullmatch(r"(?:ray://)?(\[[^\]]+\]|[^:/\[\]]+):(\d{1,5})", text)
    if not m or not 0 < int(m.group(2)) < 65536:
        raise ConfigError(f"--ray-address '{text}' is not a Ray address. {ADDRESS_HELP}")
    return m.group(1).strip("[]"), int(m.group(2))


def check_reachable(address: str) -> None:
    """A TCP connect first: Ray itself retries an unreachable address for minutes."""
    host, port = _host_port(address)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DeviceError(f"Cannot reach the Ray cluster at --ray-address {address} ({reason}): start its head with "
                          f"`ray start --head`, check the address, or leave --ray-address out to run on this "
                          f"machine") from None


def _resolve_auto() -> str:
    from ray._private import services  # Ray's own lookup: RAY_ADDRESS, then the last `ray start` here

    try:
        found = services.canonicalize_bootstrap_address("auto")
    except Exception:  # noqa: BLE001 - any failure to find one means: none
        found = None
    if not found:
        raise DeviceError("--ray-address auto found no Ray cluster (RAY_ADDRESS is unset and no `ray start` ran on "
                          "this machine): start one with `ray start --head`, or leave --ray-address out")
    return found


def preflight(address: Optional[str], num_cpus: Optional[int] = None) -> Optional[str]:
    """Before anything is written: Ray installed, the address well-formed and answering.
    Returns the address to join (``auto`` resolved), None for in-process."""
    if address is not None and address != "auto":
        _host_port(address)  # a malformed address: refused before Ray is imported
    if address is not None and num_cpus:
        raise ConfigError("--num-cpus applies to the in-process Ray; a cluster's nodes declare their own "
                          "(ray start --num-cpus)")
    if num_cpus is not None and num_cpus < 1:
        raise ConfigError(f"--num-cpus must be >= 1, got {num_cpus}")
    require("ray", extra="sweep")
    if address is None:
        return None
    target = _resolve_auto() if address == "auto" else address
    check_reachable(target)
    return target


def start(address: Optional[str], devices: tuple, num_cpus: Optional[int] = None,
          object_store_mb: int = 400) -> Cluster:
    """Start Ray here (no address) or join a cluster (``preflight``'s address); check that every
    device is declared on exactly one node."""
    import time

    ray = require("ray", extra="sweep")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # edgekit sends nothing on the user's behalf
    t0 = time.monotonic()
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        if address is None:
            # address="local": always a new instance (a plain ray.init() joins whatever `ray start` left running)
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                     object_store_memory=object_store_mb * 1024 * 1024,
                     resources={resource(d): 1 for d in devices}, **quiet)
        else:
            ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError) as exc:
        raise _connect_error(address, exc) from None
    startup = time.monotonic() - t0
    try:
        cluster = _describe(ray, address, devices)
    except BaseException:
        ray.shutdown()
        raise
    cluster.startup_s = startup
    return cluster


def _connect_error(address, exc: BaseException) -> DeviceError:
    chain, e = [], exc
    while e is not None:
        chain.append(f"{type(e).__name__}: {e}")
        e = e.__cause__ or e.__context__
    text = " ".join(chain)
    if "InvalidAuthToken" in text or "AuthenticationError" in text:
        return DeviceError(f"The Ray cluster at {address} refused this client's authentication token: run with "
                           "RAY_AUTH_MODE=token and the cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN")
    where = f"at {address}" if address else "on this machine"
    return DeviceError(f"Ray could not start or connect {where}: {first_words(chain[0])}")


def first_words(text: str, limit: int = 240) -> str:
    line = next((ln for ln in text.splitlines() if ln.strip()), text)
    return line[:limit]


def _describe(ray, address, devices) -> Cluster:
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    cpus = {n["NodeID"]: n["Resources"].get("CPU", 0) for n in nodes}
    holders: dict = {}
    for n in nodes:
        for name, amount in n["Resources"].items():
            if name.startswith(PREFIX):
                holders.setdefault(name[len(PREFIX):], []).append((n["NodeID"], amount))
    where = {}
    for d in devices:
        found = holders.get(d, [])
        if not found:
            declared = ", ".join(sorted(holders)) or "none"
            raise ConfigError(f"Device '{d}' is declared on no node of the Ray cluster (declared: {declared}); "
                              f"start the node that reaches it with `ray start --address=... --resources "
                              f"'{node_resources([d])}'`")
        if len(found) > 1 or found[0][1] != 1:
            raise ConfigError(f"Device '{d}' is declared {sum(a for _, a in found):g} times in the Ray cluster; "
                              "declare each device once, with capacity 1, on the node that reaches it")
        where[d] = found[0][0]
    try:
        driver = ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - Ray Client: the driver is not on a node
        driver = None
    return Cluster(ray, address, where, cpus, driver)
