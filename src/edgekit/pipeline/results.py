"""What export and run return: typed, printable with to_dict() as `edgekit export/run --json` print them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..export.artifact import Artifact
from ..runtime_bench.bench import BenchReport


@dataclass
class ExportResult:
    artifacts: list[Artifact] = field(default_factory=list)
    fold: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"fold_bn": self.fold, "data": self.data, "warnings": self.warnings,
                "artifacts": [dict(path=str(a.path), **{k: v for k, v in a.to_dict().items() if k != "card"})
                              for a in self.artifacts]}


@dataclass
class RunResult:
    export: ExportResult
    bench: BenchReport
    report: dict  # kind -> path written (md, html, plots)
    run_id: Optional[int] = None  # in the results database, when recorded
    db: Optional[str] = None

    def to_dict(self) -> dict:
        return {**self.bench.to_dict(), "export": self.export.to_dict(), "report": self.report,
                "run_id": self.run_id, "db": self.db}
