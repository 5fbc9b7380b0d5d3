"""The built-in datasets."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

import torch

from gan_cli.data.fashion_edges import FASHION_CLASSES, build_edge_task, build_fashion_edges
from gan_cli.data.image_folder import list_image_folder, load_image, load_listed_images
from gan_cli.data.memory import InMemoryImages, resize_uint8
from gan_cli.data.mnist import load_fashion_mnist, load_mnist
from gan_cli.data.registry import DATASETS, DataRequest
from gan_cli.data.streaming import LazyImages, StreamedImages, streams
from gan_cli.data.translation import TranslationImages, jitter_load_size, jitter_shift
from gan_cli.data.translation_folders import TranslationSplits, load_paired_folder, load_unpaired_folder
from gan_cli.errors import UserError

DIGITS = tuple(str(d) for d in range(10))


def is_train_split(split: str) -> bool:
    if split not in ("train", "test"):
        raise UserError(f"data.split={split} is not known; use train or test")
    return split == "train"


def from_idx_arrays(images: torch.Tensor, labels: torch.Tensor, data_cfg, image_size: int, classes) -> InMemoryImages:
    if data_cfg.limit:
        images, labels = images[: data_cfg.limit], labels[: data_cfg.limit]
    return InMemoryImages(resize_uint8(images, image_size), labels, len(classes), classes)


@DATASETS.register("mnist")
def mnist(data_cfg, request: DataRequest) -> InMemoryImages:
    root = Path(data_cfg.root).expanduser()
    images, labels = load_mnist(root, train=is_train_split(data_cfg.split), download=data_cfg.download)
    return from_idx_arrays(images, labels, data_cfg, request.image_size, DIGITS)


@DATASETS.register("fashion_mnist")
def fashion_mnist(data_cfg, request: DataRequest) -> InMemoryImages:
    images, labels = load_fashion_mnist(data_cfg.root, train=is_train_split(data_cfg.split))
    return from_idx_arrays(images, labels, data_cfg, request.image_size, FASHION_CLASSES)


@DATASETS.register("image_folder")
def image_folder(data_cfg, request: DataRequest) -> InMemoryImages | StreamedImages:
    """In memory, or streamed from disk when holding it would pass data.memory_budget."""
    listing = list_image_folder(data_cfg.path, data_cfg.limit)
    size, channels, count = request.image_size, data_cfg.channels, len(listing.files)
    if not streams(count, count * channels * size * size, data_cfg.memory_budget):
        return load_listed_images(listing, channels, size)
    lazy = LazyImages(tuple(listing.files), channels, size, partial(load_image, channels=channels, size=size))
    return StreamedImages(lazy, listing.labels, len(listing.classes), listing.classes, data_cfg.workers)


def training_size(data_cfg, image_size: int) -> int:
    """Training images are kept larger than the model's size when the jitter resizes them first."""
    return jitter_load_size(image_size) if data_cfg.jitter and data_cfg.jitter_resize else image_size


def training_shift(data_cfg, image_size: int) -> int:
    """How far the shift-only jitter moves a crop past each edge (0 when the jitter resizes or is off)."""
    return jitter_shift(image_size) if data_cfg.jitter and not data_cfg.jitter_resize else 0


def translation_images(splits: TranslationSplits, data_cfg, request: DataRequest) -> TranslationImages:
    """The splits with data.direction applied; pairs stay pairs only for a model that trains on pairs."""
    if not request.paired:
        splits = replace(splits, paired=False)
    shift = training_shift(data_cfg, request.image_size)
    return TranslationImages.from_splits(splits, data_cfg.direction, request.image_size, data_cfg.flip, data_cfg.workers, shift)


@DATASETS.register("paired_folder")
def paired_folder(data_cfg, request: DataRequest) -> TranslationImages:
    size = request.image_size
    splits = load_paired_folder(
        data_cfg.path, training_size(data_cfg, size), size, request.batch_size, data_cfg.limit, data_cfg.memory_budget
    )
    return translation_images(splits, data_cfg, request)


@DATASETS.register("unpaired_folder")
def unpaired_folder(data_cfg, request: DataRequest) -> TranslationImages:
    size = request.image_size
    splits = load_unpaired_folder(
        data_cfg.path, training_size(data_cfg, size), size, request.batch_size, data_cfg.limit, data_cfg.memory_budget
    )
    return translation_images(splits, data_cfg, request)


@DATASETS.register("fashion_edges")
def fashion_edges(data_cfg, request: DataRequest) -> TranslationImages:
    """Edge maps → Fashion-MNIST items: paired for pix2pix; for CycleGAN, edges and items from
    disjoint halves of the train split. The test split stays paired for scoring."""
    size = request.image_size
    splits = build_fashion_edges(data_cfg.root, training_size(data_cfg, size), size, request.paired, data_cfg.limit)
    return translation_images(splits, data_cfg, request)


@DATASETS.register("mnist_edges")
def mnist_edges(data_cfg, request: DataRequest) -> TranslationImages:
    """Outlines → MNIST digits, built as fashion_edges is; MNIST loads as for data=mnist."""
    size, root = request.image_size, Path(data_cfg.root).expanduser()
    train = load_mnist(root, train=True, download=data_cfg.download)
    test = load_mnist(root, train=False, download=data_cfg.download)
    splits = build_edge_task("mnist_edges", train, test, DIGITS, training_size(data_cfg, size), size, request.paired, data_cfg.limit)
    return translation_images(splits, data_cfg, request)
