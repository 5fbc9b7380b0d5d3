"""The dataset registry and what a model asks of its data; ``catalog`` registers the built-in datasets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

from gan_cli.data.memory import InMemoryImages
from gan_cli.data.streaming import StreamedImages
from gan_cli.data.translation import TranslationImages
from gan_cli.registry import Registry

TrainingData = Union[InMemoryImages, StreamedImages, TranslationImages]


@dataclass(frozen=True)
class DataRequest:
    """What the model needs from the data: its image size, a full batch, and (for translation) pairs."""

    image_size: int
    batch_size: int = 1
    paired: bool = True  # translation data: pairs (pix2pix), or two independently drawn domains (CycleGAN)


DatasetBuilder = Callable[..., TrainingData]
DATASETS: Registry[DatasetBuilder] = Registry("dataset")
