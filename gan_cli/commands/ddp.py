"""Data-parallel training: ``gan-train-ddp [torchrun flags] key=value ...``.

``launch_main`` is the console script. It checks the command line as gan-train does, for the world
size the torchrun flags give, pins the run directory, then hands the rest to torchrun's own
launcher, which starts ``python -m gan_cli.commands.ddp`` once per process. ``worker_main`` is that process:
it joins the others and trains its shard of every batch (``gan_cli.device.distributed``); rank 0 runs under
Hydra, so the run directory is the one gan-train would write.
"""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

from gan_cli.errors import UserError


def fail(message: str, code: int = 2) -> NoReturn:
    print(f"gan-train-ddp: error: {message}", file=sys.stderr)
    sys.exit(code)


def split_arguments(args: list[str]) -> tuple[list[str], list[str]]:
    """torchrun's flags (``--name=value`` or ``--name value``) and gan-train's ``key=value`` overrides."""
    flags, overrides, index = [], [], 0
    while index < len(args):
        arg = args[index]
        if arg.startswith("-"):
            flags.append(arg)
            takes_value = "=" not in arg and index + 1 < len(args) and "=" not in args[index + 1] and not args[index + 1].startswith("-")
            if takes_value:
                flags.append(args[index + 1])
                index += 1
        else:
            overrides.append(arg)
        index += 1
    return flags, overrides


def launch_main() -> None:
    """``gan-train-ddp --nproc_per_node=N [--nnodes ... --rdzv-endpoint ...] key=value ...``"""
    # Each process imports its own half only: the launcher never builds a model, the workers never parse torchrun's flags.
    from gan_cli.commands.launch import check_launch, ddp_help, launched, run_workers

    logging.raiseExceptions = False
    flags, overrides = split_arguments(sys.argv[1:])
    if any(flag in ("-h", "--help") for flag in flags):
        print(ddp_help())
        return
    try:
        with launched(check_launch(flags, overrides)) as launch:
            code = run_workers(launch)
        sys.exit(code)
    except UserError as error:
        fail(str(error))


def worker_main() -> None:
    """One process of the run, as torchrun starts it."""
    from gan_cli.commands.worker import train_shard  # as in launch_main: this process's half only

    logging.raiseExceptions = False
    try:
        train_shard(sys.argv[1:])
    except UserError as error:
        fail(str(error))


if __name__ == "__main__":
    worker_main()
