"""One process of a data-parallel run, as torchrun starts it (``python -m gan_cli.commands.ddp``)."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console

from gan_cli.commands.cli import run_with_hydra
from gan_cli.commands.compose import compose_config, output_folders, own_overrides, register_all
from gan_cli.device.distributed import (
    join_process_group,
    leave_process_group,
    shard_from_environment,
    waiting_for_the_others,
)
from gan_cli.device.runtime import resolve_device
from gan_cli.training.signals import TrainingInterrupted
from gan_cli.training.train import train


def train_shard(args: list[str]) -> None:
    """Join the other processes, then train this rank's shard; rank 0 runs under Hydra, which writes
    the run directory gan-train-ddp pinned (hydra.run.dir), and reports for all."""
    shard = shard_from_environment()
    register_all()
    cfg = compose_config(own_overrides(args))
    join_process_group(shard, resolve_device(cfg.device.type), cfg.device.dist_timeout)
    try:
        if shard.is_main:
            run_with_hydra(args, None, shard)
            return
        run_dir = output_folders(args)["hydra.run.dir"]  # as gan-train-ddp pinned it, quoted or not
        with waiting_for_the_others("training"):  # DDP's own collectives, when rank 0 failed mid-step
            train(cfg, Path(run_dir), Console(quiet=True), shard=shard)
    except TrainingInterrupted as interrupted:
        sys.exit(interrupted.exit_code)  # rank 0 says what was saved
    finally:
        leave_process_group()
