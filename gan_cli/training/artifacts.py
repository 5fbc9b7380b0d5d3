"""What a run leaves for people to look at: sample grids, the progress GIF and summary.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from gan_cli.config import GRID_PADDING, MAX_GRID_PIXELS
from gan_cli.errors import UserError


def grid_pixels(count: int, height: int, width: int, nrow: int) -> int:
    columns = max(1, min(nrow, count))
    rows = -(-count // columns)
    return rows * (height + GRID_PADDING) * columns * (width + GRID_PADDING)


def image_grid(images: torch.Tensor, nrow: int) -> torch.Tensor:
    """Images in [-1, 1] → one uint8 [C, H, W] grid."""
    pixels = grid_pixels(images.shape[0], images.shape[-2], images.shape[-1], nrow)
    if pixels > MAX_GRID_PIXELS:
        raise UserError(
            f"a grid of {images.shape[0]} images of {images.shape[-1]} px would hold {pixels / 2**20:.0f} M pixels, "
            f"more than the {MAX_GRID_PIXELS // 2**20} M an image file here may; ask for fewer images"
        )
    from torchvision.utils import make_grid  # torchvision's import costs over a second at every start

    grid = make_grid(images.detach().float().cpu(), nrow=nrow, padding=GRID_PADDING, normalize=True, value_range=(-1, 1))
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


def append_json_line(record: dict[str, Any], path: Path) -> None:
    """One JSON object per line: a history that a crash can cut short but never corrupt midway."""
    with path.open("a") as file:
        file.write(json.dumps(record, sort_keys=True) + "\n")


def keep_json_lines_until(path: Path, step: int) -> None:
    """Drop the records after ``step``: a resumed run writes them again, as TensorBoard's purge_step does."""
    if not path.is_file():
        return
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line).get("step", 0) <= step]
    if len(kept) != len(lines):
        temporary = path.with_suffix(".tmp")
        temporary.write_text("".join(line + "\n" for line in kept))
        temporary.replace(path)
