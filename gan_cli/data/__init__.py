"""Datasets by name. A builder takes the data config and what the model asks of the data.
Imports families' data types, device (shards, memory budgets) and the ground floor."""

from __future__ import annotations

from gan_cli.data import catalog  # noqa: F401  (registers the built-in datasets)
from gan_cli.data.memory import BatchStream, InMemoryImages, resize_uint8
from gan_cli.data.registry import DATASETS, DataRequest, TrainingData
from gan_cli.data.translation import TranslationImages


def build_dataset(data_cfg, request: DataRequest) -> TrainingData:
    """Load the named dataset as the model asks for it."""
    return DATASETS.get(data_cfg.name)(data_cfg, request)


__all__ = ["DATASETS", "BatchStream", "DataRequest", "InMemoryImages", "TrainingData", "TranslationImages", "build_dataset", "resize_uint8"]
