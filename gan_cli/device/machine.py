"""What this machine is, as benchmarks print it and as caches of measured choices are keyed."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

SPEED_FLAGS = ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile")  # the CPU features that decide bf16 speed


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> str:
    """The CPU features that decide bf16 speed (AMX tiles, AVX-512 bf16), as far as /proc/cpuinfo tells."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "unknown"
    return " ".join(flag for flag in SPEED_FLAGS if flag in flags) or "none of avx512f/avx512_bf16/amx"


def load_average() -> str:
    """The 1-minute load average against the core count: above the cores, other work shares the CPU."""
    try:
        return f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    except OSError:
        return "unknown"


def describe_machine() -> str:
    """One line for beside every measured figure: CPU, its bf16 features, threads, load and torch."""
    return (
        f"{cpu_model()} ({cpu_flags()}), {torch.get_num_threads()} threads, load {load_average()}, "
        f"torch {torch.__version__}"
    )


def cuda_model(device: torch.device) -> str:
    return torch.cuda.get_device_name(device)
