"""What a run leaves for people to look at: sample grids, the progress GIF and summary.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torchvision.utils import make_grid


def image_grid(images: torch.Tensor, nrow: int) -> torch.Tensor:
    """Images in [-1, 1] → one uint8 [C, H, W] grid."""
    grid = make_grid(images.detach().float().cpu(), nrow=nrow, padding=2, normalize=True, value_range=(-1, 1))
    return grid.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)


def to_pil(image: torch.Tensor) -> Image.Image:
    """A uint8 [C, H, W] tensor as a PIL image (grayscale stays single-channel)."""
    array = image.permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)


def save_png(image: torch.Tensor, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    to_pil(image).save(path)
    return path


def save_individual(images: torch.Tensor, folder: Path, names: list[str]) -> list[Path]:
    """One PNG per image in [-1, 1], named as given, for folder-based metric tools."""
    pixels = images.detach().float().cpu().add(1).mul(127.5).add_(0.5).clamp_(0, 255).to(torch.uint8)
    return [save_png(image, folder / name) for image, name in zip(pixels, names)]


def write_gif(frames: list[Path], path: Path, frame_ms: int = 400) -> Path | None:
    """An animation of the grids in order; the last frame lingers so the result is visible."""
    if not frames:
        return None
    images = [Image.open(frame).convert("RGB") for frame in frames]
    durations = [frame_ms] * (len(images) - 1) + [frame_ms * 5]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)
    return path


def write_json(payload: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return path
