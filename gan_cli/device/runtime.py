"""Device, precision and determinism settings, resolved once from the device config."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from gan_cli.config import DeviceType, Precision
from gan_cli.device.precision import PrecisionChoice, autocast, choose_precision
from gan_cli.errors import UserError


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    precision_choice: PrecisionChoice
    memory_format: torch.memory_format

    @property
    def precision(self) -> Precision:
        return self.precision_choice.precision

    def autocast(self):
        return autocast(self.device, self.precision)

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


def make_runtime(device_cfg, recorded_precision: Optional[str] = None, local_rank: int = 0) -> Runtime:
    """The device, precision and layout a run trains with; ``recorded_precision`` is a resumed
    checkpoint's (or, in data-parallel training, rank 0's choice), which precision=auto keeps.
    ``local_rank`` picks this process's GPU on a machine with several."""
    device = resolve_device(device_cfg.type)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if device_cfg.threads:
        torch.set_num_threads(device_cfg.threads)  # before the precision probe, which times at this count
    choice = choose_precision(device, device_cfg.precision, device_cfg.cache_dir, recorded_precision)
    layout = torch.channels_last if device_cfg.channels_last else torch.contiguous_format
    return Runtime(device, choice, layout)


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
