"""Datasets by name. A builder takes the data config and the model's image size."""

from __future__ import annotations

from typing import Callable

from gan_cli.data.memory import BatchStream, InMemoryImages, resize_uint8
from gan_cli.registry import Registry

DatasetBuilder = Callable[..., InMemoryImages]
DATASETS: Registry[DatasetBuilder] = Registry("dataset")


def build_dataset(data_cfg, image_size: int) -> InMemoryImages:
    """Load the named dataset at the model's image size."""
    from gan_cli.data import catalog  # noqa: F401  (registers the built-in datasets)

    return DATASETS.get(data_cfg.name)(data_cfg, image_size)


__all__ = ["DATASETS", "BatchStream", "InMemoryImages", "build_dataset", "resize_uint8"]
