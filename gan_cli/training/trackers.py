"""Experiment trackers: where a run's scalars, sample grids and files go besides its own folder.

``logger=`` chooses them (conf/logger/, schemas in gan_cli/config.py). TensorBoard, the default, and a
CSV of every scalar write into the run directory (tracker_files.py); MLflow and Weights & Biases are
clients of stores outside it (tracker_mlflow.py, tracker_wandb.py). ``Trackers`` hands each call to
every chosen one. A write into the run directory that fails stops the run as any other such write
does (one line; the last checkpoint is kept). An outside tracker that fails warns once and is
dropped: the training goes on with the others.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, ContextManager, Optional

import torch
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from gan_cli.config import LoggerConfig
from gan_cli.errors import UserError
from gan_cli.training.plots import History
from gan_cli.training.progress import say
from gan_cli.training.tracker_base import RunStatus, TrackedRun, Tracker
from gan_cli.training.tracker_files import CsvTracker, TensorBoardTracker
from gan_cli.training.tracker_mlflow import MlflowTracker, check_mlflow
from gan_cli.training.tracker_wandb import WandbTracker, check_wandb

Writing = Callable[[str], ContextManager[None]]  # Upkeep.writing: a failed write as one line


class Trackers:
    """The chosen trackers as one: each call goes to every tracker still working."""

    def __init__(self, trackers: dict[str, Tracker], writing: Writing, console: Console, saved_ids: Optional[dict[str, str]] = None):
        self.active = list(trackers.values())
        # Every tracker run this run has had, kept after a drop (and for a tracker off this session),
        # so that a later resume continues them.
        self.run_ids = dict(saved_ids or {}) | {name: tracker.run_id for name, tracker in trackers.items() if tracker.run_id}
        self.writing = writing
        self.console = console
        self.session: History = {}  # this session's scalars, for plots.png when no tracker reads its own back

    def log_step(self, step: int, scalars: dict[str, float], grid: Optional[torch.Tensor]) -> None:
        """One step's scalars to every tracker, and its sample grid to the outside ones (the run
        directory's get theirs on the writer thread, through ``write_grid``)."""
        for name, value in scalars.items():
            self.session.setdefault(name, []).append((step, value))
        for tracker in list(self.active):
            if scalars:
                self.call(tracker, tracker.log_scalars, step, scalars)
            if grid is not None and not tracker.in_run_dir:
                self.call(tracker, tracker.log_grid, step, grid)

    def write_grid(self, step: int, grid: torch.Tensor) -> None:
        """The run directory's copies of a sample grid; a failure is the grid write's own."""
        for tracker in list(self.active):
            if tracker.in_run_dir:
                tracker.log_grid(step, grid)

    def history(self) -> History:
        """The whole run's scalars from the first tracker that reads them back, else this session's."""
        for tracker in list(self.active):
            history = self.call(tracker, tracker.history)
            if history:
                return history
        return self.session

    def finish(self, summary: dict[str, Any]) -> list[str]:
        """Each tracker's end of a completed run; the lines that say where to look at it."""
        lines = []
        for tracker in list(self.active):
            lines += self.call(tracker, tracker.finish, summary) or []
        return lines

    def close(self, status: RunStatus) -> None:
        """End every tracker's run; the outside ones first, since a run-directory write that fails
        here ends in one line."""
        closing, self.active = sorted(self.active, key=lambda tracker: tracker.in_run_dir), []
        for tracker in closing:
            if tracker.in_run_dir:
                with self.writing(tracker.title):
                    tracker.close(status)
            else:
                with contextlib.suppress(Exception):  # a store that fails at the end loses nothing of the run
                    tracker.close(status)

    def call(self, tracker: Tracker, action: Callable[..., Any], *args: Any) -> Any:
        """``action(*args)``, one of the tracker's methods: a run-directory tracker's failed write
        stops the run in one line; an outside tracker's failure drops it with one warning."""
        if tracker.in_run_dir:
            with self.writing(tracker.title):
                return action(*args)
        try:
            return action(*args)
        except Exception as error:  # any client error: the store vanished, a full disk, the network
            self.drop(tracker, error)
            return None

    def drop(self, tracker: Tracker, error: Exception) -> None:
        self.active.remove(tracker)
        say(self.console, f"warning: {tracker.title} failed ({described(error)}); the run goes on without it")
        with contextlib.suppress(Exception):
            tracker.close(RunStatus.failed)


def open_trackers(tracked: TrackedRun, writing: Writing, console: Console) -> Trackers:
    """Open (or continue) every tracker ``logger=`` chose. An outside one that cannot open warns
    and is left out; the pre-flight has checked its package and its store."""
    logger: LoggerConfig = tracked.cfg.logger
    opened: dict[str, Tracker] = {}
    for name, tracker in (("tensorboard", TensorBoardTracker), ("csv", CsvTracker)):
        if logger[name].enabled:
            with writing(tracker.title):
                opened[name] = tracker.open(tracked)
    for name, tracker in (("mlflow", MlflowTracker), ("wandb", WandbTracker)):
        if not logger[name].enabled:
            continue
        try:
            opened[name] = tracker.open(logger[name], tracked)
        except Exception as error:  # the client's many types: the store, the network, the service
            say(console, f"warning: cannot open {tracker.title} ({described(error)}); the run goes on without it")
    return Trackers(opened, writing, console, tracked.saved_ids)


def described(error: BaseException) -> str:
    """A client's error on one line: the innermost cause, which names what went wrong ("attempt to
    write a readonly database", "Connection refused") where the outer ones wrap it in their own
    words, its lines joined, cut short."""
    while error.__cause__ is not None:
        error = error.__cause__
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else f"{text[:199]}…"


# ------------------------------------------------------------------------------------ pre-flight


def check_loggers(cfg: DictConfig) -> None:
    """Before any work: each chosen tracker's package is installed and its store can be opened, and
    no setting is given to a tracker that is off."""
    logger = cfg.logger
    for name in logger:
        if not logger[name].enabled:
            check_unused_settings(name, logger[name])
    if logger.mlflow.enabled:
        check_mlflow(logger.mlflow)
    if logger.wandb.enabled:
        check_wandb(logger.wandb)


def check_unused_settings(name: str, settings: DictConfig) -> None:
    """A key set for a tracker that is off would be silently ignored: say how to turn it on."""
    defaults = OmegaConf.to_container(OmegaConf.structured(OmegaConf.get_type(settings)), enum_to_str=True)
    given = OmegaConf.to_container(settings, resolve=True, enum_to_str=True)
    changed = [key for key in given if key != "enabled" and given[key] != defaults.get(key)]
    if changed:
        raise UserError(
            f"logger.{name}.{changed[0]}={given[changed[0]]} is set, but the {name} logger is off; "
            f"turn it on with logger={name}, or logger=[tensorboard,{name}] to keep TensorBoard"
        )
