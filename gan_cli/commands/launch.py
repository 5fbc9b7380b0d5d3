"""gan-train-ddp's side of a data-parallel run: check it as gan-train would, then start it through
torchrun's own launcher and turn what comes back into one line."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NoReturn

from gan_cli.commands.compose import compose_config, own_overrides
from gan_cli.commands.preflight import check_command_line
from gan_cli.commands.run_folder import run_folder
from gan_cli.device.distributed import check_batch_divides
from gan_cli.device.runtime import resolve_device
from gan_cli.errors import UserError

WORKER_MODULE = "gan_cli.commands.ddp"
SET_BY_GAN_TRAIN_DDP = ("-m", "--no-python", "--run-path")  # torchrun's flags for what to start: gan-train-ddp starts the workers

INTRODUCTION = """\
gan-train-ddp runs one gan-train run over several processes with PyTorch's DistributedDataParallel,
started by torchrun's own launcher (gloo on CPUs, NCCL on GPUs, one GPU per process). Each process
trains on its share of every batch: train.batch_size is the global batch and must divide by the
number of processes. Rank 0 alone writes the run directory gan-train would and scores the samples.
torchrun's flags come first, then gan-train's group=option and key=value overrides, the same as
gan-train takes: `gan-train --help` lists every group and key. Continue a run with resume=RUN_DIR,
on any number of processes (or in one, with gan-train)."""

EXAMPLES = """\
  gan-train-ddp --nproc_per_node=2 model=dcgan train.batch_size=128    2 processes on this machine
  gan-train-ddp --nproc_per_node=2 resume=auto                         continue the latest run
  gan-train-ddp --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d --rdzv-endpoint=node0:29400 \\
      --rdzv-id=run1 model=dcgan device=cuda device.sync_bn=true       the same line on both nodes"""


def ddp_help() -> str:
    """gan-train-ddp's part, then torchrun's flags without the worker-script arguments it sets itself."""
    from torch.distributed.run import get_args_parser

    parser = get_args_parser()
    parser.usage = "gan-train-ddp [torchrun flags] [group=option ...] [key=value ...]"
    parser.description = None
    for action in parser._actions:
        if not action.option_strings or set(action.option_strings) & set(SET_BY_GAN_TRAIN_DDP):
            action.help = argparse.SUPPRESS
    sections = parser.format_help().split("\n\n", 1)[1]  # past the usage, printed first
    flags = sections.split("\n", 1)[1].rstrip()  # past argparse's heading ("options:")
    return "\n\n".join([f"usage: {parser.usage}", INTRODUCTION, "Examples:\n" + EXAMPLES, "torchrun's flags:\n" + flags])


@dataclass(frozen=True)
class Launch:
    """A checked data-parallel run: torchrun's parsed arguments, and the workers' overrides."""

    torchrun: argparse.Namespace
    world_size: int
    local_world_size: int
    args: list[str]  # gan-train's, as checked (a resume rewrites them)
    run_dir: str = ""  # once claimed


def torchrun_arguments(flags: list[str], overrides: list[str]) -> argparse.Namespace:
    """torchrun's own parser on its flags, with the worker module and the overrides after them."""
    from torch.distributed.run import get_args_parser

    if any(flag in ("-m", "--multirun", "--module") for flag in flags):
        raise UserError("gan-train-ddp starts one run over several processes; drop -m (a sweep runs with gan-train -m)")

    def refuse(message: str) -> NoReturn:
        raise UserError(f"{message}; torchrun's flags go before the overrides, e.g. gan-train-ddp --nproc_per_node=2 train.steps=100")

    parser = get_args_parser()
    parser.error = refuse
    return parser.parse_args([*flags, "-m", WORKER_MODULE, *overrides])


def world_sizes(torchrun: argparse.Namespace) -> tuple[int, int]:
    """(processes in all, processes on this node), from --nproc_per_node and --nnodes."""
    from torch.distributed.run import determine_local_world_size, parse_min_max_nnodes

    try:
        local = determine_local_world_size(torchrun.nproc_per_node)
        min_nodes, max_nodes = parse_min_max_nnodes(torchrun.nnodes)
    except (ValueError, RuntimeError) as error:
        raise UserError(f"bad --nproc_per_node or --nnodes ({error}); e.g. --nproc_per_node=2 --nnodes=1") from None
    if min_nodes != max_nodes:
        raise UserError(f"--nnodes={torchrun.nnodes} is a range; give a fixed number of nodes, so that train.batch_size divides among the processes")
    return local * max_nodes, local


def check_launch(flags: list[str], overrides: list[str]) -> Launch:
    """Everything gan-train checks, plus what a data-parallel run adds, before any process starts."""
    torchrun = torchrun_arguments(flags, overrides)
    world_size, local_world_size = world_sizes(torchrun)
    args, _ = check_command_line(overrides)  # a resume rewrites them
    cfg = compose_config(own_overrides(args))
    check_batch_divides(cfg.train.batch_size, world_size)
    if cfg.device.sync_bn and resolve_device(cfg.device.type).type != "cuda":
        raise UserError("device.sync_bn=true needs GPUs (PyTorch's SyncBatchNorm runs on CUDA only); drop it on the CPU")
    return Launch(torchrun, world_size, local_world_size, args)


@contextlib.contextmanager
def launched(launch: Launch) -> Iterator[Launch]:
    """The launch with its run folder claimed (every rank's hydra.run.dir, and resume's), held while it runs."""
    with run_folder(launch.args, multirun=False) as claimed:
        launch.torchrun.training_script_args = claimed.args
        yield dataclasses.replace(launch, args=claimed.args, run_dir=str(claimed.folder))


def what_to_resume(run_dir: str) -> str:
    """A stopped run continues from its last.pt; one stopped before its first checkpoint starts over."""
    if (Path(run_dir) / "checkpoints" / "last.pt").is_file():
        return f"continue with: gan-train-ddp ... resume={run_dir}"
    return f"no checkpoint was written yet, so there is nothing to resume in {run_dir}; start the run again"


def run_workers(launch: Launch) -> int:
    """Run torchrun's launcher; the exit code to leave with. A worker's own error is already on
    stderr as one line; this adds one line saying which rank ended how."""
    # One thread per core between this node's processes, rather than torchrun's warning and 1.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // launch.local_world_size)))
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousError
    from torch.distributed.run import run

    # The agent's shutdown warnings and its error naming the failed worker, which the one line below
    # says better. torch gives each of its elastic loggers a level of its own, so their common
    # parent's level would not reach them.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)

    try:
        run(launch.torchrun)
        return 0
    except ChildFailedError as failed:
        rank, failure = min(failed.failures.items())
        code = failure.exitcode
        reason = f"was stopped by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        print(f"gan-train-ddp: error: rank {rank} {reason} (its message, if any, is above); the run is in {launch.run_dir}", file=sys.stderr)
        return code if code > 0 else 1
    except SignalException as stopped:
        print(f"gan-train-ddp: stopped by {signal.Signals(stopped.sigval).name}; {what_to_resume(launch.run_dir)}", file=sys.stderr)
        return 128 + int(stopped.sigval)
    except RendezvousError as error:
        endpoint = launch.torchrun.rdzv_endpoint or f"{launch.torchrun.master_addr}:{launch.torchrun.master_port}"
        reason = " ".join(str(error).split())[:200]
        raise UserError(
            f"no rendezvous at {endpoint}: {reason}; start gan-train-ddp on every node with the same --nnodes and "
            "--rdzv-endpoint, or lower --nnodes (--rdzv-conf=join_timeout=SECONDS sets how long to wait)"
        ) from None
