"""DiffAugment (Zhao et al., 2020): the same random, differentiable transforms on every image D sees,
real or fake, in D's phase and in G's. D then cannot memorise a small training set, and G's gradient
flows back through the transforms, so G is never taught to draw them.

Images are in [-1, 1], [N, C, H, W]. Each transform draws its parameters per image.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gan_cli.errors import UserError

Transform = Callable[[torch.Tensor], torch.Tensor]


def per_image(images: torch.Tensor) -> torch.Tensor:
    """One uniform draw in [0, 1) per image, shaped to broadcast over its pixels."""
    return torch.rand(images.shape[0], 1, 1, 1, device=images.device, dtype=images.dtype)


def color(images: torch.Tensor) -> torch.Tensor:
    """Brightness ±0.5, saturation ×[0, 2), contrast ×[0.5, 1.5)."""
    images = images + (per_image(images) - 0.5)
    channel_mean = images.mean(dim=1, keepdim=True)
    images = (images - channel_mean) * (per_image(images) * 2) + channel_mean
    image_mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - image_mean) * (per_image(images) + 0.5) + image_mean


def translation(images: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """A shift of up to ``ratio`` of the size in each direction, whole pixels, zeros shifted in."""
    n, _, height, width = images.shape
    limit = torch.tensor([width, height], device=images.device) * ratio
    pixels = torch.round((torch.rand(n, 2, device=images.device) * 2 - 1) * limit)
    shift = pixels * 2 / torch.tensor([width, height], device=images.device)  # in grid units, [-1, 1] across
    theta = torch.zeros(n, 2, 3, device=images.device, dtype=images.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, :, 2] = -shift.to(images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def cutout(images: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """A square of ``ratio`` of the size, at a random centre, set to 0 (mid-grey)."""
    n, _, height, width = images.shape
    half_h, half_w = height * ratio / 2, width * ratio / 2
    centre_y = torch.rand(n, 1, 1, device=images.device) * height
    centre_x = torch.rand(n, 1, 1, device=images.device) * width
    rows = torch.arange(height, device=images.device).view(1, -1, 1) + 0.5
    columns = torch.arange(width, device=images.device).view(1, 1, -1) + 0.5
    inside = ((rows - centre_y).abs() < half_h) & ((columns - centre_x).abs() < half_w)
    return images * (~inside).unsqueeze(1).to(images.dtype)


TRANSFORMS: dict[str, Transform] = {"color": color, "translation": translation, "cutout": cutout}


def parse_policy(policy: str) -> list[Transform]:
    """"color,translation,cutout" → the transforms, in order; an unknown name is one line."""
    names = [name.strip() for name in policy.split(",") if name.strip()]
    unknown = [name for name in names if name not in TRANSFORMS]
    if unknown or not names:
        raise UserError(
            f"augment.policy={policy!r} has {'an unknown transform ' + repr(unknown[0]) if unknown else 'no transform'}; "
            f"choose from {', '.join(TRANSFORMS)}, comma-separated and quoted (e.g. augment.policy='color,translation')"
        )
    return [TRANSFORMS[name] for name in names]


def augment_inputs(critic: nn.Module, transforms: list[Transform]) -> None:
    """Transform the first input of every call of ``critic`` (a forward pre-hook, so its weights and
    checkpoints are unchanged, and every call is covered: real and fake, D's phase and G's)."""

    def hook(module: nn.Module, args: tuple) -> tuple:
        images = args[0]
        for transform in transforms:
            images = transform(images)
        return (images, *args[1:])

    critic.register_forward_pre_hook(hook)
