"""Every image loader decodes 16-bit, 32-bit integer and float images with their full range scaled to
8 bits: a gradient stays a gradient from 0 to 255, on disk in each format a user may have."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from gan_cli.data import DataRequest, build_dataset
from gan_cli.data.image_folder import load_image_folder
from gan_cli.data.translation_folders import read_translation_image

SIZE = 32


def gradient(top: float) -> np.ndarray:
    """[SIZE, SIZE], rising from 0 on the left to ``top`` on the right."""
    return np.tile(np.linspace(0, top, SIZE), (SIZE, 1))


def write_png16(path: Path, pixels: np.ndarray) -> None:
    """A 16-bit PNG of [H, W] (grayscale) or [H, W, 3] (RGB) uint16 pixels; Pillow cannot write 16-bit RGB."""
    height, width = pixels.shape[:2]
    colour_type = 2 if pixels.ndim == 3 else 0
    rows = b"".join(b"\0" + pixels[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def write_gray16_png(path: Path) -> None:
    Image.fromarray(gradient(65535).round().astype(np.uint16)).save(path)  # Pillow reads it back as I;16


def write_rgb16_png(path: Path) -> None:
    ramp = gradient(65535).round().astype(np.uint16)
    write_png16(path, np.stack([ramp, ramp, ramp], axis=-1))


def write_int32_tiff(path: Path) -> None:
    Image.fromarray(gradient(65535).round().astype(np.int32)).save(path)  # mode I, 16-bit values


def write_float_tiff(path: Path) -> None:
    Image.fromarray(gradient(1.0).astype(np.float32)).save(path)  # mode F, in [0, 1]


WRITERS = {"gray16.png": write_gray16_png, "rgb16.png": write_rgb16_png, "int32.tif": write_int32_tiff, "float.tif": write_float_tiff}


@pytest.fixture(params=list(WRITERS))
def image_file(request, tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    path = folder / request.param
    WRITERS[request.param](path)
    return path


def assert_full_gradient(pixels: torch.Tensor) -> None:
    """uint8 [C, SIZE, SIZE] rising left to right over the whole 8-bit range, in every channel."""
    assert pixels.dtype == torch.uint8
    rows = pixels.reshape(-1, SIZE).int()
    assert (rows[:, 0] <= 1).all() and (rows[:, -1] >= 254).all(), rows[0].tolist()
    assert (rows.diff(dim=1) >= 0).all(), rows[0].tolist()
    assert len(rows[0].unique()) > SIZE // 2, rows[0].tolist()


@pytest.mark.parametrize("channels", [1, 3])
def test_an_image_folder_loads_deep_images_over_the_full_range(image_file, channels):
    images = load_image_folder(str(image_file.parent), channels, SIZE).images
    assert images.shape == (1, channels, SIZE, SIZE)
    assert_full_gradient(images[0])


def test_a_streamed_image_folder_decodes_the_same_way(image_file):
    data_cfg = OmegaConf.create({"name": "image_folder", "path": str(image_file.parent), "channels": 3, "limit": 0,
                                 "memory_budget": 1e-6, "workers": 0})  # 1 KiB: the 3 KiB image streams
    dataset = build_dataset(data_cfg, DataRequest(SIZE))
    assert type(dataset).__name__ == "StreamedImages"
    assert_full_gradient(dataset.images[torch.tensor([0])][0])


def test_translation_images_decode_the_same_way(image_file):
    assert_full_gradient(read_translation_image(image_file, 3, SIZE, "input"))
