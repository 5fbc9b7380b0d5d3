"""Device, precision and determinism settings, resolved once from the device config."""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass

import numpy as np
import torch

from gan_cli.config import DeviceType, Precision
from gan_cli.errors import UserError

AUTOCAST_DTYPES = {Precision.bf16: torch.bfloat16, Precision.fp16: torch.float16}


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    precision: Precision
    memory_format: torch.memory_format

    def autocast(self):
        if self.precision is Precision.fp32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=AUTOCAST_DTYPES[self.precision])

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """fp16 gradients underflow without loss scaling; bf16 and fp32 need none."""
        if self.precision is Precision.fp16:
            return torch.amp.GradScaler(self.device.type)
        return None


def resolve_device(kind: str) -> torch.device:
    if kind == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise UserError("device=cuda but no CUDA GPU is visible; use device=cpu or device=auto")
    return torch.device(DeviceType(kind).value)


def resolve_precision(device: torch.device, precision: str) -> Precision:
    if Precision(precision) is Precision.fp16 and device.type != "cuda":
        raise UserError("device.precision=fp16 needs a CUDA GPU; use device.precision=bf16 on the CPU")
    return Precision(precision)


def make_runtime(device_cfg) -> Runtime:
    device = resolve_device(device_cfg.type)
    precision = resolve_precision(device, device_cfg.precision)
    if device_cfg.threads:
        torch.set_num_threads(device_cfg.threads)
    layout = torch.channels_last if device_cfg.channels_last else torch.contiguous_format
    return Runtime(device, precision, layout)


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
