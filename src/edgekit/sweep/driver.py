"""The sweep's driver: submits Ray tasks, records each result the moment it arrives, and keeps
going past failures.

Order of events: every device is probed from its node while the exports start; an export's
files are written into OUT/files and recorded, then each device's bench jobs of those files
are handed to Ray, which queues them on the device's resource. A failed job is recorded with
its one line; the jobs that depended on it (the benches of a failed export, the benches of a
device that is down) are recorded as failed with the reason. Only this process writes the
database.
"""
from __future__ import annotations

import collections
import time
from pathlib import Path
from typing import Callable

from .bundles import load_bundle, save_bundle
from .progress import Progress
from .remote import Remote

NODE_CHECK_S = 10.0


class Driver:
    def __init__(self, plan, store, run_id: int, out_dir: Path, cluster, device_options, progress: Progress,
                 say: Callable[[str], None], verbose: bool = False, lost_retries: int = 1) -> None:
        self.plan, self.store, self.run_id, self.out_dir = plan, store, run_id, Path(out_dir)
        self.cluster, self.ray, self.options = cluster, cluster.ray, device_options
        self.progress, self.say, self.lost_retries = progress, say, lost_retries
        self.remote = Remote(cluster, verbose)
        self.inflight: dict = {}  # ObjectRef -> (kind, job, extra)
        self.files: dict = {}  # file key -> {"ref": bundle ObjectRef, "path": Path}
        self.waiting = collections.defaultdict(list)  # file key -> bench jobs waiting for that file
        self.parked = collections.defaultdict(list)  # device -> bench jobs waiting for its probe
        self.device_state: dict = {}  # device -> "probing" | "up" | the error line
        self.device_info: dict = {}
        self.starts = collections.Counter()  # job key -> attempts Ray started
        self.lost = collections.Counter()  # job key -> re-submissions after the device was lost
        self.benches_left = collections.Counter()  # file key -> bench jobs not finished
        self.results: list[dict] = []
        self.files_saved: list = []  # Artifacts written into OUT/files by this run
        self.failures: list[dict] = []
        self.export_span: list[float] = []  # start and end of every export task (node clocks)
        self._weights: dict = {}

    # ---- submitting ----

    def run(self, exports: list, benches: list, ready_files: dict) -> None:
        for d in sorted({b.device for b in benches}):
            self.device_state[d] = "probing"
            self.inflight[self.remote.probe(d, self.options)] = ("probe", d, None)
        for key, row in ready_files.items():
            self.files[key] = {"ref": self.ray.put(load_bundle(Path(row["file"]))), "path": Path(row["file"])}
        for job in exports:
            refs = self.remote.export(job, self._weights_ref(job))
            self.inflight[refs[0]] = ("export", job, refs[1:])
        for b in benches:
            self.benches_left[b.file_key] += 1
            if b.file_key in self.files:
                self._queue_bench(b)
            else:
                self.waiting[b.file_key].append(b)
        self.progress.show(force=True)
        next_check = time.monotonic() + NODE_CHECK_S
        while self.inflight:
            ready, _ = self.ray.wait(list(self.inflight), num_returns=len(self.inflight), timeout=1.0)
            self._events()
            for ref in ready:
                kind, job, extra = self.inflight.pop(ref)
                getattr(self, f"_{kind}_done")(ref, job, extra)
            if time.monotonic() > next_check:
                self._check_nodes()
                next_check = time.monotonic() + NODE_CHECK_S
            self.progress.show()
        for jobs in list(self.waiting.values()) + list(self.parked.values()):  # left with no file or device
            for b in jobs:
                self._fail(b, "not benched: its file was never exported")

    def _weights_ref(self, job):
        w = job.model.weights
        if w is None:
            return None
        if w not in self._weights:  # read once, sent once per node through the object store
            self._weights[w] = self.ray.put(Path(w).read_bytes())
        return self._weights[w]

    def _queue_bench(self, job) -> None:
        state = self.device_state.get(job.device)
        if state == "up":
            ref = self.remote.bench(job, self.files[job.file_key]["ref"], self.plan.bench_config, self.options)
            self.inflight[ref] = ("bench", job, None)
        elif state == "probing":
            self.parked[job.device].append(job)
        else:
            self._fail(job, f"not benched: {job.device} is down: {state}")

    # ---- results ----

    def _get(self, ref):
        """ray.get, with Ray's own failures (a worker that died more often than retried) as a line."""
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            text = str(exc).strip().splitlines()
            return {"error": f"Ray: {type(exc).__name__}: {text[-1] if text else ''}"[:300], "error_kind": "RayError"}

    def _probe_done(self, ref, device, _extra) -> None:
        out = self._get(ref)
        if "error" in out:
            self.device_state[device] = out["error"]
            self.say(f"sweep: {device} is down at the start: {out['error']}; its jobs are reported, others run")
        else:
            self.device_state[device] = "up"
            self.device_info[device] = out["info"]
            self.say(f"sweep: {device}: {out['summary']}")
        for job in self.parked.pop(device, []):
            self._queue_bench(job)

    def _export_done(self, ref, job, bundle_refs) -> None:
        meta = self._get(ref)
        timing = self._timing(job.key, meta)
        if "traceback" in meta:
            self.say(meta["traceback"].rstrip())
        if "error" in meta:
            self.store.failed(self.run_id, job, meta["error"], timing)
            self.progress.finish(job.key, False)
            self._failed(job, meta["error"])
            for p in job.precisions:
                for b in self.waiting.pop(job.file_key(p), []):
                    self._fail(b, f"not benched: the export of {job.name} failed: {meta['error']}")
            return
        self.export_span += [meta["started_at"], meta["ended_at"]]
        bundles = self.ray.get(list(bundle_refs))
        artifacts = [save_bundle(b, self.out_dir, job, p) for p, b in zip(job.precisions, bundles)]
        self.store.files_done(self.run_id, job, artifacts, timing)
        self.files_saved += artifacts
        self.progress.exports_done += 1
        self.progress.finish(job.key, True)
        for p, bref, art in zip(job.precisions, bundle_refs, artifacts):
            key = job.file_key(p)
            self.files[key] = {"ref": bref, "path": Path(art.path)}
            for b in self.waiting.pop(key, []):
                self._queue_bench(b)

    def _bench_done(self, ref, job, _extra) -> None:
        out = self._get(ref)
        if out.get("error_kind") == "DeviceLost" and self.lost[job.key] < self.lost_retries:
            self.lost[job.key] += 1  # the device dropped mid-bench: once more, after what is queued
            self.say(f"sweep: {job.name}: {out['error']}; retrying once")
            self.progress.running.discard(job.key)
            self._queue_bench(job)
            return
        timing = self._timing(job.key, out)
        if "error" in out:
            self._fail(job, out["error"], timing)
        else:
            result = out["result"]
            result["file"] = str(self.files[job.file_key]["path"])
            result["sweep"] = {"key": job.key, "run_id": self.run_id, "job": job.to_dict(), **timing}
            self.store.bench_done(self.run_id, job, result, timing)
            self.results.append(result)
            self.progress.finish(job.key, True)
        self._release(job.file_key)

    def _release(self, file_key: str) -> None:
        self.benches_left[file_key] -= 1
        if self.benches_left[file_key] <= 0 and file_key in self.files:
            self.files[file_key]["ref"] = None  # the object store may free the bytes

    def _timing(self, key: str, out: dict) -> dict:
        return {"node": out.get("node"), "started_at": out.get("started_at"), "ended_at": out.get("ended_at"),
                "attempts": max(self.starts[key], 1)}  # Ray's re-runs and our retries after a lost device

    def _fail(self, job, error: str, timing=None) -> None:
        self.store.failed(self.run_id, job, error, timing)
        self.progress.finish(job.key, False)
        self._failed(job, error)

    def _failed(self, job, error: str) -> None:
        self.failures.append({"job": job.name, "key": job.key, "kind": job.to_dict()["kind"],
                              "device": getattr(job, "device", None), "error": error})
        self.say(f"sweep: FAILED {job.name}: {error}")

    def _events(self) -> None:
        for kind, key, payload in self.remote.drain():
            if kind == "started":
                self.starts[key] += 1
                self.progress.start(key)
                if self.starts[key] - self.lost[key] > 1:  # not our own retry: Ray re-ran it
                    self.say(f"sweep: a Ray worker died; Ray runs job {key} again "
                             f"(attempt {self.starts[key] - self.lost[key]})")
            elif kind == "line":
                self.say(f"  [{key[:8]}] {payload}")

    def _check_nodes(self) -> None:
        """A node that left the cluster takes its devices with it: their jobs are reported."""
        alive = {n["NodeID"] for n in self.ray.nodes() if n.get("Alive")}
        for device, node in self.cluster.device_nodes.items():
            if node in alive or self.device_state.get(device) not in ("up", "probing"):
                continue
            self.device_state[device] = "its Ray node left the cluster"
            for ref, (kind, job, _) in list(self.inflight.items()):
                if kind in ("bench", "probe") and (job if kind == "probe" else job.device) == device:
                    self.ray.cancel(ref, force=True)
                    del self.inflight[ref]
                    if kind == "bench":
                        self._fail(job, f"{device}: its Ray node left the cluster mid-bench")
            for job in self.parked.pop(device, []):
                self._queue_bench(job)

    def interrupt(self, grace_s: float = 5.0) -> None:
        """SIGINT: stop every task (KeyboardInterrupt in the task, so device temp dirs are removed)."""
        for ref in list(self.inflight):
            try:
                self.ray.cancel(ref, force=False)
            except Exception:  # noqa: BLE001 - already finished or gone
                pass
        if self.inflight:
            self.ray.wait(list(self.inflight), num_returns=len(self.inflight), timeout=grace_s)
