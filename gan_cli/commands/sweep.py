"""A Hydra callback that reports a multirun's jobs, best FID first, and fails the sweep if a job failed.

The table is printed, and written into the sweep directory as ``sweep.csv`` and ``sweep.md``; a sweep
stopped early (Ctrl-C) writes the table of the jobs that finished. FIDs rank only against FIDs of the
same extractor and real set: jobs that differ there are grouped apart, under a warning.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Optional

import yaml
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from rich.table import Table

from gan_cli.training.progress import output_console
from gan_cli.training.tracker_base import SweepJob


class JobResult(float):
    """What a sweep job returns: its summary, which the sweep table reads, that is also a float, the
    final value of train.best_metric (FID by default; NaN when the job failed or has none), which
    Hydra's Optuna sweeper minimises."""

    summary: dict[str, Any]

    def __new__(cls, summary: dict[str, Any]) -> "JobResult":
        value = summary.get(summary.get("best_metric") or "", math.nan)
        result = super().__new__(cls, value if isinstance(value, (int, float)) else math.nan)
        result.summary = summary
        return result

    def __reduce__(self):
        """Pickled from summary, so a job run in another process (joblib, submitit) returns it whole."""
        return JobResult, (self.summary,)


def sweep_job(hydra_cfg) -> Optional[SweepJob]:
    """The multirun job that Hydra runs now, for the experiment trackers to group a sweep's runs; None
    for a single run."""
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    return SweepJob(str(hydra_cfg.sweep.dir), int(hydra_cfg.job.num), tuple(hydra_cfg.overrides.task))


COLUMNS = ("job", "overrides", "status", "fid", "kid", "extractor", "steps", "d_real", "d_fake", "detail")
FIGURES = {"fid": "eval/fid", "kid": "eval/kid", "d_real": "d/real", "d_fake": "d/fake"}


@dataclass
class JobRow:
    job: int
    overrides: str
    status: str  # "ok" or "failed"
    detail: str  # the run directory, or the error
    figures: dict[str, float]
    steps: Optional[int] = None
    objective: float = math.nan  # what an Optuna search minimises: the final train.best_metric
    extractor: str = ""  # a short id of the FID's feature extractor, e.g. "classifier:1a2b3c4d"
    real_set: str = ""  # the real images the FID compares against, e.g. "mnist train split, 150 images"

    @property
    def basis(self) -> tuple[str, str]:
        """What the FID depends on besides the model: FIDs on different bases do not compare."""
        return (self.extractor, self.real_set)

    def cells(self) -> dict[str, str]:
        shown = {name: f"{value:.4g}" for name, value in self.figures.items()}
        return {"job": str(self.job), "overrides": self.overrides, "status": self.status, "steps": "" if self.steps is None else str(self.steps),
                "extractor": self.extractor, "detail": self.detail, **{name: shown.get(name, "") for name in FIGURES}}


def fid_or_last(row: JobRow) -> float:
    fid = row.figures.get("fid", math.inf)
    return fid if math.isfinite(fid) else math.inf


def ranked(rows: list[JobRow]) -> list[JobRow]:
    """Finished jobs first, grouped by the basis of their FID (the group with the best FID first),
    lowest FID first within a group; jobs without FID after, then failed jobs, in job order."""
    scored = [row for row in rows if row.status == "ok" and math.isfinite(fid_or_last(row))]
    best_of_basis: dict[tuple[str, str], float] = {}
    for row in scored:
        best_of_basis[row.basis] = min(best_of_basis.get(row.basis, math.inf), fid_or_last(row))
    groups = sorted(best_of_basis, key=best_of_basis.get)

    def key(row: JobRow) -> tuple:
        group = groups.index(row.basis) if row in scored else len(groups)
        return (row.status != "ok", group, fid_or_last(row), row.job)

    return sorted(rows, key=key)


def comparability_warning(rows: list[JobRow]) -> Optional[str]:
    """One line when the FIDs come from different extractors or real sets, else None."""
    bases = {row.basis for row in rows if row.status == "ok" and "fid" in row.figures}
    if len(bases) < 2:
        return None
    extractors = sorted({extractor for extractor, _ in bases})
    real_sets = sorted({real_set for _, real_set in bases})
    differ = f"{len(extractors)} extractors ({', '.join(extractors)})" if len(extractors) > 1 else ""
    differ += (" and " if differ else "") + (f"{len(real_sets)} real sets ({'; '.join(real_sets)})" if len(real_sets) > 1 else "")
    return (f"warning: these FIDs come from {differ}; FIDs compare only on the same extractor and real set, "
            "so the jobs are grouped by them and ranked within each group (one data set, split and data.limit share one)")


def job_row(number: int, job_return: JobReturn) -> JobRow:
    overrides = " ".join(job_return.overrides or [])
    if job_return.status != JobStatus.COMPLETED:
        return JobRow(number, overrides, "failed", str(job_return._return_value), {})
    returned = job_return.return_value
    result: dict[str, Any] = returned.summary if isinstance(returned, JobResult) else returned or {}
    return summary_row(number, overrides, result)


def summary_row(number: int, overrides: str, result: dict[str, Any]) -> JobRow:
    """A job's row from its summary (summary.json), or from the failure it reported."""
    if result.get("status") == "failed":
        return JobRow(number, overrides, "failed", result.get("error", ""), {})
    figures = {name: float(result[key]) for name, key in FIGURES.items() if isinstance(result.get(key), (int, float))}
    return JobRow(number, overrides, "ok", str(result.get("run_dir", "")), figures, result.get("steps"), float(JobResult(result)),
                  extractor_id(result), real_set(result))


def extractor_id(summary: dict[str, Any]) -> str:
    """The short id; a summary written before there was one gives its extractor's description."""
    return str(summary.get("eval_extractor_id") or summary.get("eval_extractor") or "")


def real_set(summary: dict[str, Any]) -> str:
    if not summary.get("eval_real"):
        return ""
    return f"{summary['eval_real']}, {summary.get('eval_real_images')} images vs {summary.get('eval_generated_images')} samples"


JOB_FAILURE = "failed.txt"  # a sweep job's one-line error, beside its .hydra/ folder


def rows_from_folder(sweep_dir: Path) -> list[JobRow]:
    """Every job's row from what it left in its folder: the jobs of a launcher that runs them in other
    processes (joblib, submitit) report to callbacks there, not here."""
    rows = []
    jobs = [d for d in sweep_dir.iterdir() if d.is_dir() and d.name.isdigit()] if sweep_dir.is_dir() else []
    for job_dir in sorted(jobs, key=lambda d: int(d.name)):
        recorded = job_dir / ".hydra" / "overrides.yaml"
        overrides = " ".join(yaml.safe_load(recorded.read_text()) or []) if recorded.is_file() else ""
        summary, failure = job_dir / "summary.json", job_dir / JOB_FAILURE
        if summary.is_file():
            rows.append(summary_row(int(job_dir.name), overrides, json.loads(summary.read_text())))
        else:
            reason = failure.read_text().strip() if failure.is_file() else "ended without a summary.json"
            rows.append(JobRow(int(job_dir.name), overrides, "failed", reason, {}))
    return rows


def write_tables(rows: list[JobRow], folder: Path) -> list[Path]:
    """sweep.csv and sweep.md, in the printed order."""
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, markdown_path = folder / "sweep.csv", folder / "sweep.md"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(row.cells() for row in rows)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row.cells()[c].replace("|", "\\|") for c in COLUMNS) + " |" for row in rows]
    markdown_path.write_text("\n".join(lines) + "\n")
    return [csv_path, markdown_path]


def fail_sweep(message: str) -> NoReturn:
    print(f"gan-train: error: {message}", file=sys.stderr)
    sys.exit(1)


def is_searched_by_optuna(config) -> bool:
    return "optuna" in str(config.hydra.sweeper.get("_target_", "")).lower()


def print_and_write(rows: list[JobRow], sweep_dir: Path, title: str) -> None:
    table = Table(title=title)
    for column in COLUMNS:
        table.add_column(column, overflow="fold")  # a narrow terminal folds an override or a path, never cuts it
    for row in rows:
        table.add_row(*(row.cells()[c] for c in COLUMNS))
    console = output_console()  # wraps no path or override in a pipe or a log
    warning = comparability_warning(rows)
    if warning:
        console.print(warning, style="yellow", markup=False)
    console.print(table)
    try:
        written = write_tables(rows, sweep_dir)
        console.print(f"sweep table: {', '.join(map(str, written))}")
    except OSError as error:
        fail_sweep(f"cannot write the sweep table in {sweep_dir} ({error.strerror or error})")


class SweepReport(Callback):
    """Collects each job's outcome; at the end prints and writes the table, best FID first, and exits 1
    if a job failed.

    Jobs catch their own input errors and return them, so one bad job never stops the others. A sweep
    cut short (Ctrl-C, which ends a job with SystemExit, or KeyboardInterrupt between jobs) never
    reaches ``on_multirun_end``: Hydra calls it only after the sweeper returns, so the table of the
    finished jobs is written at exit instead.
    """

    def __init__(self) -> None:
        self.rows: list[JobRow] = []
        self.sweep_dir: Optional[Path] = None  # set while a sweep runs and its table is not yet written

    def on_multirun_start(self, config, **kwargs: Any) -> None:
        self.sweep_dir = Path(config.hydra.sweep.dir)
        atexit.register(self.report_finished_jobs)

    def on_job_end(self, config, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:  # Hydra calls it for a single run too
            return
        number = job_return.hydra_cfg.hydra.job.num
        self.rows.append(job_row(number, job_return))
        if is_searched_by_optuna(config) and len(self.rows) == config.hydra.sweeper.n_trials:
            if not any(math.isfinite(row.objective) for row in self.rows):
                # Optuna's sweeper ends a study with no completed trial in a traceback; this says why
                self.on_multirun_end(config)
                fail_sweep("no trial gave a value of train.best_metric to minimise (FID for models that draw from noise); "
                           "for a translation model set train.best_metric=eval/psnr hydra.sweeper.direction=maximize")

    def on_multirun_end(self, config, **kwargs: Any) -> None:
        self.sweep_dir = None
        rows = ranked(self.rows or rows_from_folder(Path(config.hydra.sweep.dir)))
        print_and_write(rows, Path(config.hydra.sweep.dir), "gan-train sweep, best FID first")
        failed = sum(row.status == "failed" for row in rows)
        if failed:
            fail_sweep(f"{failed} of {len(rows)} sweep jobs failed; see the table above")

    def report_finished_jobs(self) -> None:
        """At exit, for a sweep that never reached its end: the table of the jobs that finished."""
        if self.sweep_dir is None:
            return
        sweep_dir, self.sweep_dir = self.sweep_dir, None
        rows = ranked(self.rows or [row for row in rows_from_folder(sweep_dir) if row.status == "ok"])
        print(f"gan-train: the sweep stopped early; the table of its {len(rows)} finished job(s):", file=sys.stderr)
        with contextlib.suppress(SystemExit):  # the exit under way keeps its code
            print_and_write(rows, sweep_dir, "gan-train sweep (stopped early), best FID first")
