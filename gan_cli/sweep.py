"""A Hydra callback that reports a multirun's jobs and fails the sweep if any job failed."""

from __future__ import annotations

import sys
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from rich.console import Console
from rich.table import Table


class SweepReport(Callback):
    """Collects each job's outcome; at the end prints a table and exits 1 if a job failed.

    Jobs catch their own input errors and return them, so one bad job never stops the others.
    """

    def __init__(self) -> None:
        self.jobs: list[tuple[str, str, str]] = []

    def on_job_end(self, config, job_return: JobReturn, **kwargs: Any) -> None:
        overrides = " ".join(job_return.overrides or [])
        if job_return.status != JobStatus.COMPLETED:
            self.jobs.append((overrides, "failed", str(job_return._return_value)))
            return
        result = job_return.return_value or {}
        if result.get("status") == "failed":
            self.jobs.append((overrides, "failed", result.get("error", "")))
        else:
            figures = f"{result.get('steps')} steps, D(x) {result.get('d/real', float('nan')):.3f}, D(G(z)) {result.get('d/fake', float('nan')):.3f}"
            self.jobs.append((overrides, "ok", f"{figures}  {result.get('run_dir')}"))

    def on_multirun_end(self, config, **kwargs: Any) -> None:
        table = Table(title="gan-train sweep")
        for column in ("job", "overrides", "status", "result"):
            table.add_column(column)
        for number, (overrides, status, detail) in enumerate(self.jobs):
            table.add_row(str(number), overrides, status, detail)
        Console().print(table)
        failed = sum(status == "failed" for _, status, _ in self.jobs)
        if failed:
            print(f"gan-train: error: {failed} of {len(self.jobs)} sweep jobs failed; see the table above", file=sys.stderr)
            sys.exit(1)
