"""Device exclusivity of a finished `edgekit sweep`, from the start and end times it recorded.

    python benchmarks/sweep_overlaps.py SWEEP.sqlite

Per device: benches done, failed, their span, and pairs of benches that overlap in time (must
be 0). Then: host ("local") benches that overlap an export task (must be 0), and the busiest
moment across devices (more than 1 shows that devices were benched side by side). Reads the
sweep_jobs table edgekit's sweep store writes (src/edgekit/sweep/store.py).
"""
from __future__ import annotations

import sqlite3
import sys
from collections import defaultdict


def overlapping(intervals: list[tuple[float, float, str]]) -> list[tuple[str, str]]:
    s = sorted(intervals)
    return [(a[2], b[2]) for i, a in enumerate(s) for b in s[i + 1:] if b[0] < a[1]]


def main() -> None:
    conn = sqlite3.connect(sys.argv[1])
    conn.row_factory = sqlite3.Row
    rows = [dict(r) for r in conn.execute("SELECT * FROM sweep_jobs ORDER BY id")]
    benches = [r for r in rows if r["kind"] == "bench"]
    by_device = defaultdict(list)
    for b in benches:
        by_device[b["device"]].append(b)
    print(f"{'device':28} {'done':>5} {'failed':>6} {'span min':>9} {'overlapping pairs':>18}")
    for device, mine in sorted(by_device.items()):
        done = [b for b in mine if b["status"] == "done" and b["started_at"] and b["ended_at"]]
        pairs = overlapping([(b["started_at"], b["ended_at"], b["name"]) for b in done])
        span = (max(b["ended_at"] for b in done) - min(b["started_at"] for b in done)) / 60 if done else 0
        print(f"{device:28} {len(done):>5} {sum(b['status'] == 'failed' for b in mine):>6} {span:>9.1f} {len(pairs):>18}")
    exports = [(r["started_at"], r["ended_at"], r["name"]) for r in rows
               if r["kind"] == "file" and r["status"] == "done" and r["started_at"] and r["ended_at"]]
    local = [(b["started_at"], b["ended_at"], b["name"]) for b in by_device.get("local", []) if b["status"] == "done"]
    mixed = [p for p in overlapping(exports + local) if ("on local" in p[0]) != ("on local" in p[1])]
    print(f"host benches overlapping an export task: {len(mixed)}")
    events = sorted([(b["started_at"], 1) for b in benches if b["status"] == "done"]
                    + [(b["ended_at"], -1) for b in benches if b["status"] == "done"])
    busy = peak = 0
    for _, step in events:
        busy += step
        peak = max(peak, busy)
    print(f"most benches running at once (all devices): {peak}")


if __name__ == "__main__":
    main()
