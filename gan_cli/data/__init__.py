"""Datasets by name. A builder takes the data config and what the model asks of the data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

from gan_cli.data.memory import BatchStream, InMemoryImages, resize_uint8
from gan_cli.data.translation import TranslationImages
from gan_cli.registry import Registry

TrainingData = Union[InMemoryImages, TranslationImages]


@dataclass(frozen=True)
class DataRequest:
    """What the model needs from the data: its image size, a full batch, and (for translation) pairs."""

    image_size: int
    batch_size: int = 1
    paired: bool = True  # translation data: pairs (pix2pix), or two independently drawn domains (CycleGAN)


DatasetBuilder = Callable[..., TrainingData]
DATASETS: Registry[DatasetBuilder] = Registry("dataset")


def build_dataset(data_cfg, request: DataRequest) -> TrainingData:
    """Load the named dataset as the model asks for it."""
    from gan_cli.data import catalog  # noqa: F401  (registers the built-in datasets)

    return DATASETS.get(data_cfg.name)(data_cfg, request)


__all__ = ["DATASETS", "BatchStream", "DataRequest", "InMemoryImages", "TrainingData", "TranslationImages", "build_dataset", "resize_uint8"]
