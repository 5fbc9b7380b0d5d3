"""One training run over several processes: PyTorch's DistributedDataParallel, processes started by torchrun.

Each process (rank) trains on its shard of every global batch: the batch order and the latents are
drawn for the whole batch from the same seeded generators on every rank, and each rank takes its
contiguous slice, so N processes see exactly the images and latents one process would. One DDP
module per phase holds the networks that phase trains and averages their gradients; the networks a
phase only reads stay outside it, so a frozen network never waits for a gradient. Rank 0 alone writes
checkpoints, grids, TensorBoard and metrics, and scores samples by itself (its metrics never sync), so
no collective is ever reached by one rank alone; every rank stops at the same step.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from datetime import timedelta
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gan_cli.errors import UserError
from gan_cli.families.base import Batch, Family, Phase
from gan_cli.shard import Shard


def shard_from_environment() -> Shard:
    """The rank torchrun gave this process (RANK, WORLD_SIZE, LOCAL_RANK)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise UserError("gan_cli.ddp runs under torchrun; start it with gan-train-ddp --nproc_per_node=N key=value ...")
    return Shard(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))


def check_batch_divides(batch_size: int, world_size: int) -> None:
    """train.batch_size is the global batch: every rank takes an equal share."""
    if batch_size % world_size:
        lower, upper = batch_size // world_size * world_size, -(-batch_size // world_size) * world_size
        raise UserError(
            f"train.batch_size={batch_size} does not divide among {world_size} processes; it is the global batch, "
            f"so use a multiple of {world_size} (e.g. train.batch_size={upper or world_size}{f' or {lower}' if lower else ''})"
        )


def join_process_group(shard: Shard, device: torch.device, timeout_s: float) -> None:
    """gloo on CPUs, NCCL on GPUs; the rendezvous torchrun set up, or a one-line error after ``timeout_s``."""
    backend = "nccl" if device.type == "cuda" else "gloo"
    try:
        dist.init_process_group(backend, rank=shard.rank, world_size=shard.world_size, timeout=timedelta(seconds=timeout_s))
    except (RuntimeError, TimeoutError, ValueError) as error:
        where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
        reason = " ".join(str(error).split())[:160]
        raise UserError(
            f"rank {shard.rank} could not join the other processes at {where} within {timeout_s:.0f} s ({reason}); "
            "start every node with the same rendezvous (--rdzv-endpoint), or raise device.dist_timeout"
        ) from None


def leave_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


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


def collective_failure(error: RuntimeError) -> str:
    """The gist of a failed collective: gloo's and NCCL's errors open with a source location and go
    on for lines."""
    text = " ".join(str(error).split())
    text = re.sub(r"^\[[^\]]*\]\s*", "", text)
    return text.split(". ")[0][:160]


@contextlib.contextmanager
def waiting_for_the_others(what: str) -> Iterator[None]:
    """A collective whose peer failed, left or stayed away past device.dist_timeout ends in one line:
    the rank that failed first has said why."""
    try:
        yield
    except RuntimeError as error:
        rank = dist.get_rank() if dist.is_initialized() else "?"
        raise UserError(
            f"rank {rank} lost the other processes while {what} ({collective_failure(error)}); the first rank "
            "to fail says why, or, if one was only slow, raise device.dist_timeout"
        ) from None


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any (a stop signal that reached one process)."""
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    with waiting_for_the_others("agreeing on when to stop"):
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def from_main(value: Any) -> Any:
    """Rank 0's ``value`` on every rank."""
    box = [value]
    with waiting_for_the_others("taking rank 0's settings"):
        dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if dist.is_initialized():
        with waiting_for_the_others("waiting for rank 0 to finish writing"):
            dist.barrier()
