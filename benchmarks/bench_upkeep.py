"""Does writing sample grids and checkpoints on a background thread pay? Measured, in both modes.

The default DCGAN trains through the real core (``compose_config`` → ``train``) with upkeep made
frequent (a grid every 10 steps, a checkpoint every 50; evaluation off), once with grids and
checkpoints written inline and once on the writer thread, in turns over several rounds, at each
thread count asked for. Printed per mode: the run's wall time, and the training thread's own time in
upkeep (``Upkeep.after_step``). gan-train picks the thread only where cores are spare
(``gan_cli.training.background.has_spare_cores``: a GPU run, or fewer torch threads than cores).

    python benchmarks/bench_upkeep.py                          # the CPU, at 2 threads and at 1 (about 4 minutes on 2 cores)
    python benchmarks/bench_upkeep.py --device cuda --threads 0  # on a GPU (0: torch's default count)
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from rich.console import Console

import gan_cli.training.upkeep as upkeep
from gan_cli.commands.compose import compose_config
from gan_cli.device.machine import describe_machine
from gan_cli.training.train import train

MODES = ("inline", "thread")


@contextlib.contextmanager
def writes_in(mode: str) -> Iterator[dict[str, float]]:
    """Within the block, runs write as ``mode`` says; yields the training thread's upkeep seconds."""
    chosen, after_step = upkeep.has_spare_cores, upkeep.Upkeep.after_step
    spent = {"seconds": 0.0}

    def timed_after_step(self, scalars):
        started = time.perf_counter()
        try:
            return after_step(self, scalars)
        finally:
            spent["seconds"] += time.perf_counter() - started

    upkeep.has_spare_cores = lambda device: mode == "thread"
    upkeep.Upkeep.after_step = timed_after_step
    try:
        yield spent
    finally:
        upkeep.has_spare_cores, upkeep.Upkeep.after_step = chosen, after_step


def one_run(mode: str, args: argparse.Namespace, threads: int, folder: Path) -> tuple[float, float]:
    """(wall seconds, upkeep seconds on the training thread) of one run."""
    cfg = compose_config([
        f"device={args.device}", f"device.threads={threads}", f"train.steps={args.steps}", "train.sample_every=10",
        "train.checkpoint_every=50", "eval.enabled=false",
    ])
    with writes_in(mode) as spent:
        started = time.perf_counter()
        train(cfg, Path(tempfile.mkdtemp(dir=folder)), console=Console(quiet=True))
        return time.perf_counter() - started, spent["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps per run (default 300)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per mode, taken in turns (default 2)")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="torch thread counts (0: torch's default)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    default_threads = torch.get_num_threads()  # a run's device.threads changes it for the process
    print(describe_machine(), flush=True)
    print(f"| {args.device}, torch threads | writes | wall time (s) | upkeep on the training thread (s) |")
    print("|---|---|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="bench-upkeep-") as folder:
        for threads in args.threads:
            times: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
            for _ in range(args.rounds):
                for mode in MODES:
                    times[mode].append(one_run(mode, args, threads or default_threads, Path(folder)))
            for mode in MODES:
                walls, upkeeps = zip(*times[mode])
                print(f"| {threads or 'default'} | {mode} | {statistics.median(walls):.1f} ({', '.join(f'{w:.1f}' for w in walls)}) "
                      f"| {statistics.median(upkeeps):.2f} |", flush=True)
    print(describe_machine())


if __name__ == "__main__":
    main()
