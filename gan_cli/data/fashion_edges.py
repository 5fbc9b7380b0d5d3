"""Edge maps → Fashion-MNIST items (the offline stand-in for pix2pix's edges→shoes), and outlines →
MNIST digits: translation tasks with labels on both sides, so translations can be judged by class.

The edges come from a small Canny-like detector written in torch (blur, Sobel, non-maximum suppression,
hysteresis), applied to the items themselves, so A is a function of B and paired data is exact.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gan_cli.data.memory import resize_uint8
from gan_cli.data.mnist import load_fashion_mnist
from gan_cli.data.translation_folders import TranslationSplits
from gan_cli.errors import UserError

FASHION_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
PADDED_SIZE = 32  # 28 → 32 by padding, so the usual model size needs no resampling
# Images per pass: a chunk this small stays in the CPU cache, which makes the many elementwise passes
# several times faster than one pass over the whole set.
CHUNK = 1024
# Items are mostly light on black, but some (black shirts, dark jackets) sit only ~20/255 above the
# background; a log tone curve lifts those so their outlines clear the same thresholds.
TONE_KNEE = 24.0
# Hysteresis thresholds on the gradient magnitude, in tone-mapped intensity (0..1) per pixel. Tuned by
# eye on real Fashion-MNIST: 1-px outlines of every item plus the strong inner edges, little texture noise.
LOW_THRESHOLD, HIGH_THRESHOLD = 0.03, 0.08
HYSTERESIS_STEPS = 3  # weak edges survive within this many pixels of a strong one: bounded, so it stays vectorised
BLUR_GAIN = 16 * 16  # the binomial taps 1 4 6 4 1 (a Gaussian with sigma 1) are left unnormalised
SOBEL_GAIN = 8  # a Sobel response is 8x the per-pixel intensity slope
TAN_22_5 = math.tan(math.radians(22.5))
# Neighbour offsets (dy, dx) along each quantised gradient direction: across x, down-right, across y, down-left.
GRADIENT_DIRECTIONS = ((0, 1), (1, 1), (1, 0), (1, -1))


def edge_map(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 1, H, W] items → uint8 [N, 1, H, W] edge maps: black (0) lines on a white (255) background."""
    if len(images) == 0:
        return torch.full_like(images, 255)
    return torch.cat([edge_map_of_chunk(chunk) for chunk in images.split(CHUNK)])


def build_fashion_edges(root: str, train_size: int, test_size: int, paired: bool, limit: int = 0) -> TranslationSplits:
    """A = edge maps, B = Fashion-MNIST items (see ``build_edge_task``)."""
    train = load_fashion_mnist(root, train=True)
    test = load_fashion_mnist(root, train=False)
    return build_edge_task("fashion_edges", train, test, FASHION_CLASSES, train_size, test_size, paired, limit)


def build_edge_task(
    name: str,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    class_names: tuple[str, ...],
    train_size: int,
    test_size: int,
    paired: bool,
    limit: int = 0,
) -> TranslationSplits:
    """A = edge maps of labeled 28-px items (uint8 images, int64 labels), B = the items, padded to 32 px.

    Unpaired, A and B come from disjoint halves of the train split; the test split is paired either
    way, so both families are scored against ground truth."""
    (train_items, train_labels), (test_items, test_labels) = train, test
    train_items, test_items = pad_to_32(train_items), pad_to_32(test_items)
    if limit > 0:
        train_items, train_labels = train_items[:limit], train_labels[:limit]
    edge_items, target_items = (train_items, train_items) if paired else disjoint_halves(train_items, name)
    edge_labels, target_labels = (train_labels, train_labels) if paired else disjoint_halves(train_labels, name)
    return TranslationSplits(
        train_a=resize_uint8(edge_map(edge_items), train_size),
        train_b=resize_uint8(target_items, train_size),
        test_a=resize_uint8(edge_map(test_items), test_size),
        test_b=resize_uint8(test_items, test_size),
        paired=paired,
        test_paired=True,
        eval_split="test",
        # an edge map carries its item's class, so both domains are labeled
        labels={"train_a": edge_labels, "train_b": target_labels, "test_a": test_labels, "test_b": test_labels},
        classes=len(class_names),
        class_names=class_names,
    )


def pad_to_32(items: torch.Tensor) -> torch.Tensor:
    """Black borders around the 28-px items; their edge maps then get white ones."""
    margin = (PADDED_SIZE - items.shape[-1]) // 2
    return F.pad(items, (margin, margin, margin, margin), value=0)


def disjoint_halves(items: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    middle = len(items) // 2
    if middle == 0:
        raise UserError(
            f"data={name} unpaired needs at least 2 training items to split into edges and items, "
            f"got {len(items)}; raise data.limit (0 keeps all)"
        )
    return items[:middle], items[middle:]


# ------------------------------------------------------------------------------------------ the detector
# Each step is elementwise work on shifted slices, never a reduction across images, so an image's edges
# do not depend on the batch it arrives in.


def edge_map_of_chunk(images: torch.Tensor) -> torch.Tensor:
    gx, gy = sobel(gaussian_blur(log_tone(images.float())))
    magnitude = gx * gx + gy * gy  # squared: the thresholds are squared instead, saving a sqrt
    thin = non_maximum_suppression(magnitude, gx, gy)
    unit = float(BLUR_GAIN * SOBEL_GAIN) ** 2
    strong = thin & (magnitude > HIGH_THRESHOLD**2 * unit)
    weak = thin & (magnitude > LOW_THRESHOLD**2 * unit)
    edges = hysteresis(strong, weak)
    return torch.where(edges, 0, 255).to(torch.uint8)


def log_tone(pixels: torch.Tensor) -> torch.Tensor:
    """0..255 → 0..1 on a log curve that stretches the dark end."""
    return torch.log1p(pixels / TONE_KNEE) / math.log1p(255 / TONE_KNEE)


def gaussian_blur(images: torch.Tensor) -> torch.Tensor:
    """Binomial 1 4 6 4 1 along each axis (sigma 1), edges replicated; gain BLUR_GAIN."""
    height, width = images.shape[-2:]
    padded = F.pad(images, (2, 2, 2, 2), mode="replicate")
    taps = (1, 4, 6, 4, 1)
    rows = sum(tap * padded[..., :, i : i + width] for i, tap in enumerate(taps))
    return sum(tap * rows[..., i : i + height, :] for i, tap in enumerate(taps))


def sobel(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal and vertical Sobel responses (y grows downwards), edges replicated; gain SOBEL_GAIN."""
    height, width = images.shape[-2:]
    padded = F.pad(images, (1, 1, 1, 1), mode="replicate")
    smooth_y = padded[..., 0:height, :] + 2 * padded[..., 1 : height + 1, :] + padded[..., 2 : height + 2, :]
    smooth_x = padded[..., :, 0:width] + 2 * padded[..., :, 1 : width + 1] + padded[..., :, 2 : width + 2]
    return smooth_y[..., :, 2:] - smooth_y[..., :, :width], smooth_x[..., 2:, :] - smooth_x[..., :height, :]


def non_maximum_suppression(magnitude: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """Where the magnitude peaks across the edge, along the gradient quantised to 0, 45, 90 or 135 degrees."""
    height, width = magnitude.shape[-2:]
    padded = F.pad(magnitude, (1, 1, 1, 1))

    def neighbour(dy: int, dx: int) -> torch.Tensor:
        return padded[..., 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]

    across_x = gy.abs() <= TAN_22_5 * gx.abs()
    across_y = gx.abs() <= TAN_22_5 * gy.abs()
    diagonal = ~across_x & ~across_y
    same_sign = (gx > 0) == (gy > 0)
    directions = (across_x, diagonal & same_sign, across_y, diagonal & ~same_sign)
    peaks = torch.zeros_like(across_x)
    for direction, (dy, dx) in zip(directions, GRADIENT_DIRECTIONS):
        # >= on one side and > on the other keeps one pixel of a two-pixel plateau, not both.
        peaks |= direction & (magnitude >= neighbour(dy, dx)) & (magnitude > neighbour(-dy, -dx))
    return peaks


def hysteresis(strong: torch.Tensor, weak: torch.Tensor) -> torch.Tensor:
    """Strong edges, grown into touching weak ones for HYSTERESIS_STEPS pixels."""
    edges = strong
    for _ in range(HYSTERESIS_STEPS):
        edges = weak & dilate(edges)
    return edges


def dilate(mask: torch.Tensor) -> torch.Tensor:
    """A boolean mask grown by one pixel in all eight directions (ORs of shifted slices: far faster than max_pool2d)."""
    height, width = mask.shape[-2:]
    padded = F.pad(mask.to(torch.uint8), (1, 1, 1, 1))
    rows = padded[..., :, 0:width] | padded[..., :, 1 : width + 1] | padded[..., :, 2 : width + 2]
    return (rows[..., 0:height, :] | rows[..., 1 : height + 1, :] | rows[..., 2 : height + 2, :]).bool()
