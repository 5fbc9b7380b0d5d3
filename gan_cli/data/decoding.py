"""One image file decoded to 8-bit L or RGB, for every loader: deep images keep their full range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from gan_cli.errors import UserError

READ_ERRORS = (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError)
# Where white lies in each mode deeper than 8 bits, likeliest first. 16-bit files open as I;16, or as
# I (Pillow also scales a PGM's maxval to 16 bits there); float files hold [0, 1], else 8 or 16 bits.
# Pillow's own conversion to L clips these at 255, which turns a 16-bit image almost all white.
DEEP_WHITES = {
    **{mode: (65535.0,) for mode in ("I;16", "I;16L", "I;16B", "I;16N", "I")},
    "F": (1.0, 255.0, 65535.0),
}


def unreadable(path: Path, error: Exception) -> UserError:
    reason = " ".join(str(error).split()) or type(error).__name__
    return UserError(f"cannot read image {path} ({reason}); remove or replace that file")


def decode(path: Path, channels: int) -> Image.Image:
    """The whole image as L (1 channel) or RGB (3)."""
    try:
        with Image.open(path) as image:
            return to_channels(image, channels)
    except READ_ERRORS as error:
        raise unreadable(path, error) from None


def to_channels(image: Image.Image, channels: int) -> Image.Image:
    if image.mode in DEEP_WHITES:
        image = Image.fromarray(eight_bits(np.asarray(image), DEEP_WHITES[image.mode]))
    return image.convert("L" if channels == 1 else "RGB")


def eight_bits(pixels: np.ndarray, whites: tuple[float, ...]) -> np.ndarray:
    """uint8 pixels, scaled so the first of ``whites`` that bounds them becomes 255; values outside every
    such range (a 32-bit image, say) are stretched from their own minimum to their maximum."""
    values = np.nan_to_num(pixels.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (values.min(), values.max()) if values.size else (0.0, 0.0)
    white = next((w for w in whites if low >= 0 and high <= w), None)
    black, white = (0.0, white) if white is not None else (low, high)
    scaled = (values - black) * (255 / max(white - black, 1e-12))
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)
