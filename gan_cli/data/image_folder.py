"""Any folder of images, with ImageFolder semantics: class subfolders, if present, give the labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.progress import track

from gan_cli.data.decoding import decode
from gan_cli.data.memory import InMemoryImages
from gan_cli.device.memory_budget import uint8_images
from gan_cli.errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def find_classes(root: Path) -> list[str]:
    """Subfolders holding images are classes; none means an unlabeled folder."""
    return sorted(d.name for d in root.iterdir() if d.is_dir() and list_images(d))


def load_image(path: Path, channels: int, size: int) -> np.ndarray:
    """Decode to L or RGB, scale the short side to ``size`` and center-crop a square."""
    image = decode(path, channels)
    scale = size / min(image.size)
    width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
    image = image.resize((width, height), Image.Resampling.BICUBIC)
    left, top = (width - size) // 2, (height - size) // 2
    pixels = np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


@dataclass(frozen=True)
class FolderListing:
    """The image files of a folder in a fixed order, and their labels when class subfolders give them."""

    files: list[Path]
    labels: Optional[torch.Tensor]
    classes: tuple[str, ...]


def list_image_folder(path: str | None, limit: int = 0, key: str = "data.path") -> FolderListing:
    """The folder's images (the first ``limit``); ``key`` is the argument that named it, for the errors."""
    if not path:
        raise UserError(f"data=image_folder needs a folder; pass {key}=/path/to/images")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise UserError(f"{key}={path} is not a folder; point {key} at a folder of images")
    classes = find_classes(root)
    files = [f for c in classes for f in list_images(root / c)] if classes else list_images(root)
    if not files:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise UserError(f"no images found in {root}; add image files ({suffixes}) or class subfolders of them")
    if limit:
        files = files[:limit]
    labels = None
    if classes:
        index = {name: i for i, name in enumerate(classes)}
        labels = torch.tensor([index[f.relative_to(root).parts[0]] for f in files], dtype=torch.long)
    return FolderListing(files, labels, tuple(classes))


def load_listed_images(listing: FolderListing, channels: int, size: int) -> InMemoryImages:
    """Every listed image decoded into one uint8 tensor."""
    progress = track(listing.files, description="loading images", transient=True, console=Console(stderr=True))
    images = uint8_images(len(listing.files), channels, size)
    pixels = images.numpy()  # a view: filled in place, so the set is held only once
    for index, file in enumerate(progress):
        pixels[index] = load_image(file, channels, size)
    return InMemoryImages(images, listing.labels, len(listing.classes), listing.classes)


def load_image_folder(path: str | None, channels: int, size: int, limit: int = 0, key: str = "data.path") -> InMemoryImages:
    """The folder's images in memory; ``key`` is the argument that named it, for the error messages."""
    return load_listed_images(list_image_folder(path, limit, key), channels, size)
