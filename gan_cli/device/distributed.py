"""The processes of one run, as torchrun started them: joining and leaving the process group, and the
few collectives the loop uses to agree (on stopping, on rank 0's choices).

Rank 0 alone writes checkpoints, grids, TensorBoard and metrics, and scores samples by itself (its
metrics never sync), so no collective is ever reached by one rank alone; every rank stops at the same
step. How the phases' gradients are averaged is ``gan_cli.training.parallel``.
"""

from __future__ import annotations

import contextlib
import os
import re
from datetime import timedelta
from typing import Any, Iterator

import torch
import torch.distributed as dist

from gan_cli.device.shard import Shard
from gan_cli.errors import UserError


def shard_from_environment() -> Shard:
    """The rank torchrun gave this process (RANK, WORLD_SIZE, LOCAL_RANK)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise UserError("gan_cli.commands.ddp runs under torchrun; start it with gan-train-ddp --nproc_per_node=N key=value ...")
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
