"""device.compile: the forward of every network the step trains through ``torch.compile``, or eager.

Each network's ``forward`` is replaced by its compiled version on the instance, so its state dict
keeps its plain keys (no ``_orig_mod.`` prefix): checkpoints load the same with or without compile.
Each network keeps a backward of its own, so the G phase can reuse the D phase's fakes, and dropping
the instance attribute puts the eager forward back.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch

from gan_cli.config import compile_setting
from gan_cli.families.base import Family

COMPILE_BACKEND = "inductor"  # torch.compile's default: C++/OpenMP kernels on the CPU, Triton on GPUs
# Device types where bench_speed.py measured a compiled demo-length run (compile time included) to beat
# eager. CPUs measured slower in fp32 and bf16 (README, Speed); CUDA is unmeasured until a GPU machine
# runs benchmarks/gpu_check.sh, so auto leaves it eager there too.
COMPILE_PAYS_ON: frozenset[str] = frozenset()


def wants_compile(value, device: torch.device) -> bool:
    """Whether to compile: true, false, or auto (only where measured to pay, COMPILE_PAYS_ON)."""
    setting = compile_setting(value)
    if setting == "auto":
        return device.type in COMPILE_PAYS_ON
    return setting == "true"


def trained_networks(family: Family) -> list[str]:
    return list(dict.fromkeys([*family.generator_names(), *family.critic_names()]))


def compile_networks(family: Family) -> None:
    for name in trained_networks(family):
        network = family.networks[name]
        network.forward = torch.compile(network.forward, backend=COMPILE_BACKEND)


def eager_networks(family: Family) -> dict[str, Callable]:
    """Undo ``compile_networks``; returns the compiled forwards taken off."""
    taken = {}
    for name in trained_networks(family):
        if "forward" in family.networks[name].__dict__:
            taken[name] = family.networks[name].__dict__.pop("forward")
    return taken


@contextlib.contextmanager
def eager(family: Family) -> Iterator[None]:
    """Within the block the networks run eager: sample grids and metrics (eval mode, no gradients)
    wait for no compile of their own, and a compile failure can only surface in a training step."""
    taken = eager_networks(family)
    try:
        yield
    finally:
        for name, forward in taken.items():
            family.networks[name].forward = forward


def first_line(error: BaseException) -> str:
    """An error in a few words for a one-line warning."""
    lines = str(error).strip().splitlines()
    text = lines[0][:120].rstrip(" ,:(") if lines else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
