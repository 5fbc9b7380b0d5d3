"""Generator EMA: an exponential moving average of G's weights, which draws better samples than the
G being trained (Karras et al., 2018; Yazıcı et al., 2019).

Each averaged network is kept beside its source in ``family.networks`` as ``<name>_ema`` (an
``AveragedModel``), so checkpoints, exact resume and device moves carry it with no extra code.
Sampling swaps the averages in for the duration of a ``with averaged_generators(family):`` block.
"""

from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterator, Optional

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from gan_cli.errors import UserError
from gan_cli.families.base import Family

AVERAGE_SUFFIX = "_ema"

AverageFunction = Callable[[list[torch.Tensor], list[torch.Tensor], torch.Tensor], None]


def average_name(name: str) -> str:
    return f"{name}{AVERAGE_SUFFIX}"


def half_life_images(model_cfg, batch_size: int) -> float:
    """The configured half-life in images; a per-step model.ema_decay is converted at this batch size."""
    if model_cfg.ema_decay is not None:
        return batch_size * math.log(0.5) / math.log(model_cfg.ema_decay)
    return float(model_cfg.ema_half_life)


def moving_average(half_life: float, batch_size: int, rampup: float) -> AverageFunction:
    """The update of an ``AveragedModel``: an old weight's share halves every ``half_life`` images.

    With a ramp-up the half-life is at most ``rampup`` times the images seen so far (StyleGAN2-ADA's
    ema_rampup), so a short run's average is not dominated by the random weights of its first steps."""

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        window = half_life
        if rampup:
            window = min(window, rampup * float(num_averaged) * batch_size)
        decay = 0.5 ** (batch_size / max(window, 1e-8))
        torch._foreach_lerp_(averaged, current, 1.0 - decay)

    return update


def attach_averages(family: Family, model_cfg, batch_size: int) -> None:
    """Add ``<name>_ema`` beside each generator network when model.ema is on."""
    if not model_cfg.get("ema"):
        return
    update = moving_average(half_life_images(model_cfg, batch_size), batch_size, model_cfg.ema_rampup)
    for name in family.generator_names():
        # Buffers (BatchNorm's running statistics) are copied from G, not averaged: averaging them
        # gives statistics that match neither network (issue 10's measured failure).
        average = AveragedModel(family.networks[name], multi_avg_fn=update, use_buffers=False)
        family.networks[average_name(name)] = average.requires_grad_(False)


def averaged_names(family: Family) -> list[str]:
    """The generator networks that have a moving average in ``family``."""
    return [name for name in family.generator_names() if average_name(name) in family.networks]


@torch.no_grad()
def update_averages(family: Family) -> None:
    """Fold the generators' current weights into their averages; copy their buffers as they are."""
    for name in averaged_names(family):
        network, average = family.networks[name], family.networks[average_name(name)]
        average.update_parameters(network)
        for kept, current in zip(average.module.buffers(), network.buffers()):
            kept.copy_(current)


def wants_averages(family: Family, requested: Optional[bool]) -> bool:
    """Whether gan-sample and gan-eval draw from the averages: ema=null (the default) does so when
    the checkpoint has them, ema=false never, ema=true insists on them."""
    if requested and not averaged_names(family):
        raise UserError("ema=true needs a checkpoint trained with model.ema=true, and this one keeps no moving average; drop ema=")
    return requested is not False


@contextlib.contextmanager
def averaged_generators(family: Family, enabled: bool = True) -> Iterator[list[str]]:
    """Within the block, ``family.networks[name]`` is the moving average of each averaged generator,
    so every way a family generates (grids, metrics, translation) draws from it. Yields the names
    swapped (none when ``enabled`` is false or the family keeps no averages)."""
    swapped: dict[str, nn.Module] = {}
    try:
        for name in averaged_names(family) if enabled else []:
            swapped[name] = family.networks[name]
            family.networks[name] = family.networks[average_name(name)].module
        yield list(swapped)
    finally:
        for name, network in swapped.items():
            family.networks[name] = network
