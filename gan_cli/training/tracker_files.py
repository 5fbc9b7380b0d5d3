"""The trackers that write into the run directory: TensorBoard's events (tb/) and scalars.csv."""

from __future__ import annotations

import csv
import os
import threading
from pathlib import Path
from typing import Any, Callable

import torch
from omegaconf import OmegaConf
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from gan_cli.training.plots import History, read_scalars
from gan_cli.training.tracker_base import RunStatus, TrackedRun

HYPERPARAMETER_SECTIONS = ("model", "data", "optimizer", "loss", "regularizer", "augment", "train", "eval", "device")

ThreadHook = Callable[[threading.ExceptHookArgs], Any]


def quiet_event_writer_errors(fallback: ThreadHook) -> ThreadHook:
    """TensorBoard writes events on its own thread; when a write fails there, the thread's default
    hook prints a traceback. The writer raises the same error on the main thread at its next call,
    where it becomes one line, so the thread itself stays quiet."""

    def hook(args: threading.ExceptHookArgs) -> None:
        if not (issubclass(args.exc_type, OSError) and type(args.thread).__name__ == "_AsyncWriterThread"):
            fallback(args)

    return hook


def flat_settings(cfg) -> dict[str, Any]:
    """Every setting of the run's config groups as dotted key: value, in the types HParams takes."""
    container = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    settings = {}
    for section in HYPERPARAMETER_SECTIONS:
        for key, value in container[section].items():
            plain = value if isinstance(value, (bool, int, float, str)) else str(value)
            settings[f"{section}.{key}"] = plain
    return settings


class TensorBoardTracker:
    """tb/: every scalar, the sample grids, and the settings for the HParams dashboard."""

    title = "TensorBoard events"
    in_run_dir = True
    run_id = None  # the folder is the run: a resumed run appends to it

    def __init__(self, folder: Path, step: int):
        self.folder = folder
        # A resumed run drops the events written after its checkpoint's step, so no step appears twice.
        self.writer = SummaryWriter(log_dir=str(folder), purge_step=step + 1 if step else None)

    @classmethod
    def open(cls, tracked: TrackedRun) -> "TensorBoardTracker":
        tracker = cls(tracked.run_dir / "tb", tracked.step)
        if not tracked.step:  # a resumed run's events hold them already
            tracker.log_hyperparameters(tracked)
        return tracker

    def log_hyperparameters(self, tracked: TrackedRun) -> None:
        """The run's settings, and the names of the figures it logs: the HParams dashboard shows each
        run's latest value of every named figure beside its settings, so a sweep's runs compare in
        one table."""
        figures = {name: 0.0 for name in sorted(tracked.scalar_names)}
        for summary in hparams(flat_settings(tracked.cfg), figures):
            self.writer.file_writer.add_summary(summary)

    def log_scalars(self, step: int, scalars: dict[str, float]) -> None:
        for name, value in scalars.items():
            self.writer.add_scalar(name, value, step)

    def log_grid(self, step: int, grid: torch.Tensor) -> None:
        self.writer.add_image("samples", grid, step)

    def history(self) -> History:
        self.writer.flush()
        return read_scalars(self.folder)

    def finish(self, summary: dict[str, Any]) -> list[str]:
        return []

    def close(self, status: RunStatus) -> None:
        self.writer.close()


class CsvTracker:
    """scalars.csv: a step column and one per scalar, a row per step that logged any (evaluations
    only at their steps, so other cells stay empty). A resumed run keeps the rows up to its step."""

    title = "scalars.csv"
    in_run_dir = True
    run_id = None

    def __init__(self, path: Path, columns: list[str], expected: set[str]):
        self.path = path
        self.columns = columns  # empty until the first row, whose names complete the expected ones
        self.expected = expected

    @classmethod
    def open(cls, tracked: TrackedRun) -> "CsvTracker":
        path = tracked.run_dir / "scalars.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        columns, rows = read_rows(path) if tracked.step else ([], [])
        if columns:
            write_rows(path, columns, [row for row in rows if float(row["step"]) <= tracked.step])
        return cls(path, columns, set(tracked.scalar_names))

    def log_scalars(self, step: int, scalars: dict[str, float]) -> None:
        row = {"step": step, **{name: repr(float(value)) for name, value in scalars.items()}}
        unseen = set(scalars) - set(self.columns)
        if not self.columns or unseen:
            _, rows = read_rows(self.path) if self.columns else ([], [])
            self.columns = ["step", *sorted((set(self.columns) - {"step"}) | self.expected | set(scalars))]
            write_rows(self.path, self.columns, [*rows, row])
            return
        with self.path.open("a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self.columns).writerow(row)

    def log_grid(self, step: int, grid: torch.Tensor) -> None:
        pass  # a CSV holds numbers

    def history(self) -> History:
        _, rows = read_rows(self.path)
        history: History = {}
        for row in rows:
            for name, cell in row.items():
                if name != "step" and cell not in ("", None):
                    history.setdefault(name, []).append((int(float(row["step"])), float(cell)))
        return history

    def finish(self, summary: dict[str, Any]) -> list[str]:
        return []

    def close(self, status: RunStatus) -> None:
        pass  # every row is written when it is logged


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    if not path.is_file():
        return [], []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def write_rows(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """The whole file anew, through a temporary file, so that a failed write keeps the old one."""
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(temporary, path)
