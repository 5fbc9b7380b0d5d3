"""A training run's state, and what is written from it: sample grids and checkpoint payloads.

Both the training core (``train``) and its periodic upkeep (``upkeep``) use these, so they live below
both and neither imports the other's internals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from omegaconf import DictConfig, OmegaConf

from gan_cli.data import BatchStream
from gan_cli.device.runtime import Runtime
from gan_cli.device.shard import SINGLE_PROCESS, Shard
from gan_cli.errors import UserError
from gan_cli.families import Family
from gan_cli.families.base import GridSpec, HeldOut, Phase
from gan_cli.files import atomic_save
from gan_cli.metrics.quality import QualityScorer, sample_metric_names, scores_samples
from gan_cli.metrics.translation import TranslationJudges
from gan_cli.training.background import detached_copy
from gan_cli.training.checkpoint import FORMAT, capture_rng_state

HIGHER_IS_BETTER = ("psnr", "ssim", "precision", "recall", "density", "coverage", "accuracy")  # metric name endings; every other figure is better when lower


@dataclass
class TrainingRun:
    """Everything a training step and its upkeep need; what a checkpoint saves and restores."""

    cfg: DictConfig
    run_dir: Path
    runtime: Runtime
    family: Family
    phases: list[Phase]
    optimizers: dict[str, torch.optim.Optimizer]
    stream: BatchStream
    grid: GridSpec
    total_steps: int
    compiled: bool = False  # the networks run through torch.compile (device.compile)
    shard: Shard = SINGLE_PROCESS  # this process's share of each batch in data-parallel training
    scaler: Optional[torch.amp.GradScaler] = None
    heldout: Optional[HeldOut] = None  # held-out images the family is scored on (translation data)
    scorer: Optional[QualityScorer] = None  # scores samples against real images (families with a latent)
    judges: Optional[TranslationJudges] = None  # FID and class accuracy of translations (with ``heldout``)
    best_metric: Optional[str] = None  # train.best_metric, with "auto" resolved
    step: int = 0
    skipped_steps: int = 0
    best: Optional[float] = None  # the best value of train.best_metric so far
    tracker_ids: dict[str, str] = field(default_factory=dict)  # the experiment trackers' run ids (MLflow's, W&B's), to continue them

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    @property
    def sample_dir(self) -> Path:
        return self.run_dir / "samples"


@torch.no_grad()
def generate_grid_images(family: Family, grid: GridSpec) -> torch.Tensor:
    """The fixed-input samples, drawn in eval mode so they do not disturb BatchNorm statistics."""
    family.networks.eval()
    try:
        return family.grid_images(grid.inputs).float()
    finally:
        family.networks.train()


def checkpoint_payload(run: TrainingRun, metrics: dict[str, float]) -> dict[str, Any]:
    """Everything needed to resume exactly, or to sample with nothing else at hand."""
    return {
        "format": FORMAT,
        "family": run.cfg.model.name,
        "config": OmegaConf.to_container(run.cfg, resolve=True, enum_to_str=True),
        "data_info": vars(run.family.data) | {"fields": list(run.family.data.fields)},
        "step": run.step,
        "precision": run.runtime.precision.value,  # what device.precision=auto chose; a resume keeps it
        "skipped_steps": run.skipped_steps,
        "networks": {name: net.state_dict() for name, net in run.family.networks.items()},
        "optimizers": {name: opt.state_dict() for name, opt in run.optimizers.items()},
        "scaler": None if run.scaler is None else run.scaler.state_dict(),
        "rng": capture_rng_state(),
        "data": run.stream.state_dict(),
        "family_state": run.family.state_dict(),
        "grid": {"inputs": {k: v.cpu() for k, v in run.grid.inputs.items()}, "nrow": run.grid.nrow},
        "metrics": metrics,
        "best": run.best,
        "trackers": dict(run.tracker_ids),  # plain strings: a resumed run continues the same tracker runs
    }


def checkpoint_write(run: TrainingRun, metrics: dict[str, float], periodic: bool) -> Callable[[], Path]:
    """The run's state now, copied off the live tensors, and the write of it to last.pt (and
    step_XXXXXXX.pt when periodic, best.pt when the metric improved, pruning old periodic ones past
    keep_last), to be run on any thread while training goes on."""
    improved = update_best(run, metrics)
    payload = detached_copy(checkpoint_payload(run, metrics))
    folder, step, keep_last = run.checkpoint_dir, run.step, run.cfg.train.keep_last

    def write() -> Path:
        atomic_save(payload, folder / "last.pt")
        if periodic:
            atomic_save(payload, folder / f"step_{step:07d}.pt")
            prune_checkpoints(folder, keep_last)
        if improved:
            atomic_save(payload, folder / "best.pt")
        return folder / "last.pt"

    return write


def update_best(run: TrainingRun, metrics: dict[str, float]) -> bool:
    """Track train.best_metric; True when this checkpoint is the best so far.

    Lower is better, except for similarity scores (PSNR, SSIM). A held-out figure counts from its
    first evaluation on."""
    name = run.best_metric
    if not name or name not in metrics:
        return False
    value = metrics[name]
    if run.best is not None and not is_improvement(name, value, run.best):
        return False
    run.best = value
    return True


def logged_names(cfg: DictConfig, family: Family, real_count: int) -> set[str]:
    """Every scalar the run will log: the family's own, and the sample scores when it is scored."""
    return family.logged_names() | set(sample_metric_names(cfg.eval, family, real_count))


def resolve_best_metric(cfg: DictConfig, family: Family, real_count: int) -> Optional[str]:
    """train.best_metric, checked against what the run logs; "auto" is FID for a scored family."""
    name = cfg.train.best_metric
    if name == "auto":
        return "eval/fid" if scores_samples(cfg.eval, family, real_count) else None
    known = logged_names(cfg, family, real_count)
    if name and name not in known:
        hint = " (eval.enabled=false turns evaluation off)" if name.startswith("eval/") and not cfg.eval.enabled else ""
        raise UserError(f"train.best_metric={name} is not a logged scalar{hint}; choose one of: {', '.join(sorted(known))}")
    return name


def is_improvement(metric: str, value: float, best: float) -> bool:
    return value > best if metric.endswith(HIGHER_IS_BETTER) else value < best


def prune_checkpoints(folder: Path, keep_last: int) -> None:
    if keep_last <= 0:
        return
    for old in sorted(folder.glob("step_*.pt"))[:-keep_last]:
        old.unlink(missing_ok=True)


def is_finite_network(family: Family) -> bool:
    return all(math.isfinite(p.abs().sum().item()) for p in family.networks.parameters())
