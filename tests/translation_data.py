"""Tiny made-up image-to-image data on disk, in each layout the translation loaders read.

In every paired layout B is a fixed function of A (its negative, or a colouring of it), so a model
could learn the mapping and a test can tell which half is which.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import draw_shapes
from gan_cli.data.idx import write_idx

FASHION_SIZE = 28


def negative(pixels: np.ndarray) -> np.ndarray:
    return 255 - pixels


def colourised(gray: np.ndarray) -> np.ndarray:
    """[H, W] → [H, W, 3]: the negative in red, the shape in green, half of it in blue."""
    return np.stack([255 - gray, gray, gray // 2], axis=-1).astype(np.uint8)


def shapes(count: int, size: int | tuple[int, int], rng: np.random.Generator, mode: str) -> np.ndarray:
    """[count, H, W] for mode L, [count, H, W, 3] for RGB."""
    return draw_shapes(count, size, rng, channels=1 if mode == "L" else 3)


def write_aligned_folder(root: Path, counts: dict[str, int], size=(16, 32), mode: str = "RGB", seed: int = 0) -> Path:
    """DIR/<split>/img_XXX.png of ``size`` (height, width): A (a shape) on the left, B (its negative) on the right."""
    height, width = size
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        for i, a in enumerate(shapes(count, (height, width // 2), rng, mode)):
            side_by_side = np.concatenate([a, negative(a)], axis=1)
            Image.fromarray(side_by_side).save(folder / f"img_{i:03d}.png")
    return root


def write_ab_folder(
    root: Path, counts: dict[str, int], size: int = 16, mode_a: str = "L", mode_b: str = "RGB", seed: int = 0
) -> Path:
    """DIR/A/<split>/img_XXX.png and DIR/B/<split>/img_XXX.png: a shape and its colouring (or negative, in L)."""
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        for side in ("A", "B"):
            (root / side / split).mkdir(parents=True, exist_ok=True)
        for i, gray in enumerate(shapes(count, size, rng, "L")):
            a = gray if mode_a == "L" else np.repeat(gray[..., None], 3, axis=-1)
            b = negative(gray) if mode_b == "L" else colourised(gray)
            Image.fromarray(a).save(root / "A" / split / f"img_{i:03d}.png")
            Image.fromarray(b).save(root / "B" / split / f"img_{i:03d}.png")
    return root


def write_unpaired_folder(
    root: Path,
    counts_a: dict[str, int],
    counts_b: dict[str, int],
    size: int = 16,
    seed: int = 0,
    matched_test: bool = True,
) -> Path:
    """DIR/trainA, trainB, testA, testB of RGB shapes: A on black, B the negatives (on white).

    With ``matched_test`` the test files share names (test_i in both) and testB holds the negatives of
    testA, so the test split is paired; otherwise each domain's files have their own names.
    """
    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        for domain in ("A", "B"):
            (root / f"{split}{domain}").mkdir(parents=True, exist_ok=True)
        matched = split == "test" and matched_test
        images_a = shapes(counts_a.get(split, 0), size, rng, "RGB")
        images_b = negative(images_a) if matched else negative(shapes(counts_b.get(split, 0), size, rng, "RGB"))
        images_b = images_b[: counts_b.get(split, 0)]
        for domain, images in (("A", images_a), ("B", images_b)):
            prefix = split if matched else f"{split}_{domain.lower()}"
            for i, pixels in enumerate(images):
                Image.fromarray(pixels).save(root / f"{split}{domain}" / f"{prefix}_{i:03d}.png")
    return root


def fashion_items(count: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 [count, 28, 28]: a filled rectangle or ellipse on black, each with its own box, so no two
    items share an outline."""
    yy, xx = np.mgrid[0:FASHION_SIZE, 0:FASHION_SIZE]
    boxes = list(itertools.product(range(2, 11), range(2, 11), range(6, 17), range(6, 17)))  # top, left, height, width
    picks = rng.choice(len(boxes), size=count, replace=False)
    items = np.zeros((count, FASHION_SIZE, FASHION_SIZE), dtype=np.uint8)
    for i, pick in enumerate(picks):
        top, left, h, w = boxes[pick]
        if i % 2:
            cy, cx = top + (h - 1) / 2, left + (w - 1) / 2
            mask = ((yy - cy) / (h / 2)) ** 2 + ((xx - cx) / (w / 2)) ** 2 <= 1
        else:
            mask = (yy >= top) & (yy < top + h) & (xx >= left) & (xx < left + w)
        items[i][mask] = rng.integers(120, 256)
    return items


def write_fake_fashion_mnist(root: Path, train: int = 64, test: int = 16, seed: int = 0) -> Path:
    """The four Fashion-MNIST IDX files (as Debian's dataset-fashion-mnist installs them, uncompressed)."""
    rng = np.random.default_rng(seed)
    for prefix, count in (("train", train), ("t10k", test)):
        write_idx(root / f"{prefix}-images-idx3-ubyte", fashion_items(count, rng))
        write_idx(root / f"{prefix}-labels-idx1-ubyte", (np.arange(count) % 10).astype(np.uint8))
    return root
