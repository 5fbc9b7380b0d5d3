"""The built-in datasets."""

from __future__ import annotations

from pathlib import Path

import torch

from gan_cli.data import DATASETS
from gan_cli.data.image_folder import load_image_folder
from gan_cli.data.memory import InMemoryImages, resize_uint8
from gan_cli.errors import UserError

DIGITS = tuple(str(d) for d in range(10))
FASHION_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")


def is_train_split(split: str) -> bool:
    if split not in ("train", "test"):
        raise UserError(f"data.split={split} is not known; use train or test")
    return split == "train"


def from_idx_arrays(images: torch.Tensor, labels: torch.Tensor, data_cfg, image_size: int, classes) -> InMemoryImages:
    if data_cfg.limit:
        images, labels = images[: data_cfg.limit], labels[: data_cfg.limit]
    return InMemoryImages(resize_uint8(images, image_size), labels, len(classes), classes)


@DATASETS.register("mnist")
def mnist(data_cfg, image_size: int) -> InMemoryImages:
    from gan_cli.data.mnist import load_mnist

    root = Path(data_cfg.root).expanduser()
    images, labels = load_mnist(root, train=is_train_split(data_cfg.split), download=data_cfg.download)
    return from_idx_arrays(images, labels, data_cfg, image_size, DIGITS)


@DATASETS.register("fashion_mnist")
def fashion_mnist(data_cfg, image_size: int) -> InMemoryImages:
    from gan_cli.data.mnist import load_fashion_mnist

    images, labels = load_fashion_mnist(data_cfg.root, train=is_train_split(data_cfg.split))
    return from_idx_arrays(images, labels, data_cfg, image_size, FASHION_CLASSES)


@DATASETS.register("image_folder")
def image_folder(data_cfg, image_size: int) -> InMemoryImages:
    return load_image_folder(data_cfg.path, data_cfg.channels, image_size, data_cfg.limit)
