"""The Ray side: the task functions Ray runs (module-level, so workers import them by name)
and the little actor through which tasks say "started" and send progress lines.

Resources, the whole scheduling policy:
  export task        num_cpus=1: as many at once as the cluster has CPUs, each single-threaded
  bench, ssh / adb   num_cpus=0 + the device's resource (1): one bench per device at a time, on
                     the node that declares the device; the host's CPUs stay free for exports
  bench, local       ALL the node's CPUs + the device's resource: Ray cannot start it while an
                     export holds a CPU of that node, nor start an export while it runs
  device probe       num_cpus=0 + the device's resource
Ray retries a task whose worker process died (max_retries); a task's own failure is returned
as an error line, never raised, so Ray does not retry it and the sweep goes on.
"""
from __future__ import annotations

from . import tasks

MAX_RETRIES = 2  # Ray re-runs a task after its worker died this many times
# A worker that imported torch, TensorFlow and OpenVINO grows with every export (1.3 GB after
# one TFLite export of ShuffleNet, 2.5 GB after Xception's, measured at 64x64); a fresh one
# after this many exports bounds it, for some 15 s of imports each time.
EXPORTS_PER_WORKER = 10


class EventLog:
    """Collects (kind, key, payload) events from tasks; the driver drains them."""

    def __init__(self) -> None:
        self.events: list = []

    def add(self, kind: str, key: str, payload=None) -> None:
        self.events.append((kind, key, payload))

    def drain(self) -> list:
        out, self.events = self.events, []
        return out


def _tell(events, kind: str, key: str, payload=None) -> None:
    """Best effort: a task never fails because the event log is gone."""
    if events is not None:
        try:
            events.add.remote(kind, key, payload)
        except Exception:  # noqa: BLE001 - the actor died; the result still returns
            pass


def _say(events, key: str, verbose: bool):
    return (lambda msg: _tell(events, "line", key, msg)) if verbose else (lambda msg: None)


def export_task(job, weights, events, verbose: bool):
    _tell(events, "started", job.key, tasks.task_place())
    return tasks.export_files(job, weights, _say(events, job.key, verbose))


def bench_task(job, bundle, cfg, driver_options, driver_node, events, verbose: bool):
    _tell(events, "started", job.key, tasks.task_place())
    options = tasks.node_device_options(driver_options, driver_node)
    return tasks.bench_file(job, bundle, cfg, options, _say(events, job.key, verbose))


def probe_task(uri, driver_options, driver_node):
    return tasks.probe_device(uri, tasks.node_device_options(driver_options, driver_node))


class Remote:
    """The remote functions and the event log of one sweep, bound to a started cluster."""

    def __init__(self, cluster, verbose: bool = False) -> None:
        ray = cluster.ray
        self.cluster, self.ray, self.verbose = cluster, ray, verbose
        self.events = ray.remote(num_cpus=0)(EventLog).remote()
        self._export = ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False,
                                  max_calls=EXPORTS_PER_WORKER)(export_task)
        self._bench = ray.remote(num_cpus=0, max_retries=MAX_RETRIES, retry_exceptions=False)(bench_task)
        self._probe = ray.remote(num_cpus=0, max_retries=MAX_RETRIES, retry_exceptions=False)(probe_task)

    def export(self, job, weights_ref):
        return self._export.options(num_returns=1 + len(job.precisions), name=f"export {job.name}").remote(
            job, weights_ref, self.events, self.verbose)

    def bench(self, job, bundle_ref, cfg, driver_options):
        from .cluster import resource

        from ..devices.targets import parse_uri

        node = self.cluster.device_nodes[job.device]
        cpus = self.cluster.node_cpus[node] if parse_uri(job.device).scheme == "local" else 0
        return self._bench.options(num_cpus=cpus, resources={resource(job.device): 1},
                                   name=f"bench {job.name}").remote(
            job, bundle_ref, cfg, driver_options, self.cluster.driver_node, self.events, self.verbose)

    def probe(self, uri: str, driver_options):
        from .cluster import resource

        return self._probe.options(resources={resource(uri): 1}, name=f"probe {uri}").remote(
            uri, driver_options, self.cluster.driver_node)

    def drain(self) -> list:
        """The events since the last call; none once the event log is gone (its worker died):
        "running" counts and --verbose lines stop, results still arrive through the tasks."""
        if self.events is None:
            return []
        try:
            return self.ray.get(self.events.drain.remote(), timeout=30)
        except self.ray.exceptions.RayError:
            self.events = None
            return []
