"""logger=wandb: Weights & Biases. The config, every scalar, and the sample grids as images; offline
into the run directory's wandb/ when there is no API key, so it never needs an account or a network
(``wandb sync`` uploads the run later).

wandb is an optional extra, imported where the tracker opens, never at gan-cli's start-up.
"""

from __future__ import annotations

import netrc
import os
import re
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

import torch

from gan_cli.config import WandbLoggerConfig, WandbMode
from gan_cli.errors import UserError
from gan_cli.training.plots import History
from gan_cli.training.tracker_base import RunStatus, TrackedRun, require_package

DEFAULT_HOST = "https://api.wandb.ai"
PROJECT_NAME = re.compile(r"[^/\\#?%:]{1,128}")  # the characters and length W&B allows in a project's name
INIT_TIMEOUT_S = 60


class WandbTracker:
    title = "Weights & Biases"
    in_run_dir = False

    def __init__(self, run, skip_until: int):
        self.run = run
        self.run_id = run.id
        self.skip_until = skip_until  # a resumed run's steps up to here are logged already; -1 for a new run

    @classmethod
    def open(cls, settings: WandbLoggerConfig, tracked: TrackedRun) -> "WandbTracker":
        import wandb

        resumed = tracked.saved_ids.get("wandb")
        tracked.run_dir.mkdir(parents=True, exist_ok=True)  # wandb falls back to a temporary folder without it
        run = wandb.init(
            project=settings.project,
            entity=settings.entity,
            dir=str(tracked.run_dir),
            mode=chosen_mode(WandbMode(settings.mode)),
            id=resumed,
            resume="allow" if resumed else None,  # "must" would need the server, which an offline run never saw
            name=tracked.name,
            group=tracked.sweep.folder if tracked.sweep is not None else None,
            notes=" ".join(tracked.sweep.overrides) if tracked.sweep is not None else None,
            config=None if resumed else tracked.config(),
            settings=wandb.Settings(silent=True, console="off", disable_git=True, x_disable_stats=True, init_timeout=INIT_TIMEOUT_S),
        )
        if resumed:  # the settings a resumed run may change (train.steps, ...) replace the old ones
            run.config.update(tracked.config(), allow_val_change=True)
        return cls(run, tracked.step if tracked.step else -1)  # a new run logs its step-0 grid

    def log_scalars(self, step: int, scalars: dict[str, float]) -> None:
        if step > self.skip_until:
            self.run.log(dict(scalars), step=step)

    def log_grid(self, step: int, grid: torch.Tensor) -> None:
        if step <= self.skip_until:
            return
        import wandb

        pixels = grid.permute(1, 2, 0).numpy()
        self.run.log({"samples": wandb.Image(pixels[..., 0] if pixels.shape[-1] == 1 else pixels, caption=f"step {step}")}, step=step)

    def history(self) -> Optional[History]:
        return None  # an offline run cannot read its history back; plots.png uses another tracker's

    def finish(self, summary: dict[str, Any]) -> list[str]:
        score = summary.get(summary.get("best_metric") or "")
        if isinstance(score, (int, float)):
            self.run.summary.update({"score": float(score), "score_metric": summary["best_metric"]})
        if not self.run.offline:
            return [f"Weights & Biases: {self.run.url}"]
        folders = sorted(Path(self.run.settings.sync_dir).parent.glob(f"offline-run-*-{self.run.id}"))
        return [f"Weights & Biases (offline): upload the run with: wandb sync {' '.join(map(str, folders))}"]

    def close(self, status: RunStatus) -> None:
        self.run.finish(exit_code=0 if status is RunStatus.finished else 1)


def chosen_mode(setting: WandbMode) -> Optional[str]:
    """offline or online; None leaves it to wandb, which reads WANDB_MODE, when the user set that."""
    if setting is not WandbMode.auto:
        return setting.value
    if os.environ.get("WANDB_MODE"):
        return None
    return "online" if has_api_key() else "offline"


def has_api_key() -> bool:
    """WANDB_API_KEY, or the ~/.netrc entry that `wandb login` writes for the W&B host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlsplit(os.environ.get("WANDB_BASE_URL") or DEFAULT_HOST).hostname
    try:
        return netrc.netrc().authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):  # no ~/.netrc, or one that cannot be read
        return False


def check_wandb(settings: WandbLoggerConfig) -> None:
    require_package("wandb", "wandb")
    if not PROJECT_NAME.fullmatch(settings.project):
        raise UserError(
            f"logger.wandb.project={settings.project!r} is not a W&B project name (1 to 128 characters, none of / \\ # ? % :); "
            "e.g. logger.wandb.project=gan-train"
        )
    if WandbMode(settings.mode) is WandbMode.online and not has_api_key():
        raise UserError(
            "logger.wandb.mode=online needs a W&B API key (wandb login, or WANDB_API_KEY); "
            "drop logger.wandb.mode to log offline into the run directory and wandb sync later"
        )
