"""The sweep: models x formats x precisions x devices x threads, on Ray, resumable.

    matrix.py   the matrix (flags or TOML), checked, expanded into jobs (jobs.py: keys)
    store.py    the sweep's rows in the results database: what is done, what failed
    run.py      run_sweep(): skip what is done, run the rest, report
    driver.py   submits Ray tasks and records results as they arrive
    remote.py   the Ray tasks and their resources (cluster.py: in-process or a cluster)
    tasks.py    what each task does: export + validate, bench on a device, probe a device

The sweep sits after the pipeline (it runs pipeline.export per job) and before the CLI.
Ray (``edgekit[sweep]``) is imported by cluster.py when a sweep starts, never by ``import edgekit``.
"""
from .matrix import SweepMatrix, SweepPlan, from_toml, plan
from .run import SweepResult, dry_run, run_sweep

__all__ = ["SweepMatrix", "SweepPlan", "SweepResult", "dry_run", "from_toml", "plan", "run_sweep"]
