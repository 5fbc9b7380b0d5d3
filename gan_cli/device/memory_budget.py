"""What memory this machine can give, so that a request too large for it fails up front in one line,
rather than in the kernel's out-of-memory killer partway through loading or training."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from gan_cli.errors import UserError

MEMINFO = Path("/proc/meminfo")


def available_bytes(device: torch.device = torch.device("cpu")) -> int:
    """Free memory on ``device``: the kernel's MemAvailable for the CPU, the driver's figure for CUDA."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def gib(nbytes: float) -> str:
    """A size for a message: GiB, or MiB below one GiB, where "0.0 GiB" would say nothing."""
    return f"{nbytes / 2**30:.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.0f} MiB"


def check_fits(nbytes: int, what: str, fix: str, device: torch.device = torch.device("cpu")) -> None:
    available = available_bytes(device)
    if nbytes > available:
        raise UserError(f"{what} needs {gib(nbytes)} of {device.type} memory, but {gib(available)} is free; {fix}")


IMAGES_FIX = "lower model.image_size, or use fewer images with data.limit=N"


def uint8_images(count: int, channels: int, size: int) -> torch.Tensor:
    """An empty uint8 [count, channels, size, size] tensor, refused in one line when it cannot fit."""
    check_fits(count * channels * size * size, f"holding {count} images of {size}x{size}x{channels}", IMAGES_FIX)
    return torch.empty((count, channels, size, size), dtype=torch.uint8)
