"""What every experiment tracker shares: the run it tracks, how that run ended, and the check that
a tracker's optional package is installed. The trackers themselves are tracker_files.py (TensorBoard,
CSV), tracker_mlflow.py and tracker_wandb.py; trackers.py hands each call to the chosen ones."""

from __future__ import annotations

import contextlib
import importlib.util
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Optional, Protocol

import torch
from omegaconf import DictConfig, OmegaConf

from gan_cli.errors import UserError
from gan_cli.training.plots import History


class RunStatus(str, Enum):
    """How a tracker's run ended."""

    finished = "FINISHED"
    stopped = "KILLED"  # a signal stopped it; resume= continues it
    failed = "FAILED"


@dataclass(frozen=True)
class SweepJob:
    """A multirun job: its sweep's folder, its number and overrides, so that trackers group a sweep."""

    folder: str
    number: int
    overrides: tuple[str, ...] = ()


@dataclass
class TrackedRun:
    """What a tracker needs to open its run, or to continue the one a resumed checkpoint names."""

    cfg: DictConfig
    run_dir: Path
    step: int  # the step training starts from: a resumed run's, else 0
    scalar_names: set[str]  # the scalars the run logs, known before the first step
    saved_ids: dict[str, str] = field(default_factory=dict)  # tracker name: its run id, from the checkpoint
    sweep: Optional[SweepJob] = None

    @property
    def name(self) -> str:
        """How trackers list the run: a sweep job by its number (its overrides are its params and a
        tag), a run by its folder."""
        return f"job {self.sweep.number}" if self.sweep is not None else shown_path(self.run_dir)

    def config(self) -> dict[str, Any]:
        return OmegaConf.to_container(self.cfg, resolve=True, enum_to_str=True)


def shown_path(path: Path) -> str:
    """A path relative to the working directory when it is under it, as a user typed it."""
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    return str(path)


class Tracker(Protocol):
    title: str  # how messages name it
    in_run_dir: bool  # writes into the run directory, so a failure there is the run's own
    run_id: Optional[str]  # kept in the checkpoint, so that a resumed run continues the tracker's run

    def log_scalars(self, step: int, scalars: dict[str, float]) -> None: ...

    def log_grid(self, step: int, grid: torch.Tensor) -> None: ...  # a uint8 [C, H, W] sample grid

    def history(self) -> Optional[History]: ...  # every scalar of the run, resumed sessions included

    def finish(self, summary: dict[str, Any]) -> list[str]: ...  # the run's files; lines to print

    def close(self, status: RunStatus) -> None: ...


def require_package(module: str, extra: str) -> None:
    if not is_installed(module):
        raise UserError(
            f"logger={extra} needs the {module} package, which is not installed; "
            f"pip install 'gan-cli[{extra}]' (in a clone: pip install -e '.[{extra}]')"
        )


def is_installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (mlflow's import takes 2 s)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
