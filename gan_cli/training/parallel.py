"""Data-parallel training: each phase's loss through PyTorch's DistributedDataParallel.

Each process (rank) trains on its shard of every global batch: the batch order and the latents are
drawn for the whole batch from the same seeded generators on every rank, and each rank takes its
contiguous slice, so N processes see exactly the images and latents one process would. One DDP
module per phase holds the networks that phase trains and averages their gradients; the networks a
phase only reads stay outside it, so a frozen network never waits for a gradient.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gan_cli.errors import UserError
from gan_cli.families.base import Batch, Family, Phase


class PhaseModule(nn.Module):
    """A phase as one module: its forward is the phase's loss, its parameters those of the networks
    the phase trains, so that one DDP around it averages exactly the gradients the phase steps with."""

    def __init__(self, phase: Phase, family: Family):
        super().__init__()
        self.trained = nn.ModuleDict({name: family.networks[name] for name in phase.trains})
        self.loss = phase.loss

    def forward(self, batch: Batch):
        return self.loss(batch)


def parallel_phases(phases: list[Phase], family: Family, device: torch.device) -> list[Phase]:
    """The phases with their losses run through DDP; the same networks, so checkpoints are unchanged."""
    ids = [device.index] if device.type == "cuda" else None
    wrapped = []
    for phase in phases:
        # BatchNorm statistics stay per rank (broadcast_buffers=False), or are synchronised by
        # SyncBatchNorm (device.sync_bn); every rank starts from the same weights either way.
        with warnings.catch_warnings():
            # torch suggests forward_sync_buffers, which would still sync buffers at init; per-rank
            # statistics need broadcast_buffers=False until its init_sync_buffers exists.
            warnings.filterwarnings("ignore", message=".*broadcast_buffers.*", category=FutureWarning)
            module = DistributedDataParallel(PhaseModule(phase, family), device_ids=ids, broadcast_buffers=False)
        wrapped.append(Phase(phase.name, phase.optimizer, phase.trains, module, phase.repeats, phase.scalars))
    return wrapped


def sync_batchnorm(family: Family, device: torch.device) -> None:
    """Replace every BatchNorm by a SyncBatchNorm, whose statistics span the whole global batch."""
    if device.type != "cuda":
        raise UserError(
            "device.sync_bn=true needs GPUs (PyTorch's SyncBatchNorm runs on CUDA only); on the CPU drop it, "
            "and each process keeps BatchNorm statistics of its own shard"
        )
    family.networks = nn.SyncBatchNorm.convert_sync_batchnorm(family.networks)
