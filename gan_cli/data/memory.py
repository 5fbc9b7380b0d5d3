"""Small image datasets held as one uint8 tensor on the training device, normalised per batch.

For MNIST-sized data this replaces a per-image PIL pipeline: a batch is one index and one fused
multiply-add, with no worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import torch
import torch.nn.functional as F

from gan_cli.device.memory_budget import uint8_images
from gan_cli.device.shard import SINGLE_PROCESS, Shard
from gan_cli.families.base import Batch, DataInfo


def to_unit_range(images: torch.Tensor, memory_format=torch.contiguous_format) -> torch.Tensor:
    """uint8 images → float in [-1, 1], the range every generator draws in."""
    return images.to(memory_format=memory_format).float().mul_(2 / 255).sub_(1)


def resize_uint8(images: torch.Tensor, size: int, chunk: int = 1024) -> torch.Tensor:
    """Resize a uint8 [N, C, H, W] tensor once, with antialiasing, back to uint8.

    Chunks bound the float temporaries, so the memory needed is the result's plus a little."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    resized = uint8_images(images.shape[0], images.shape[1], size)
    for start in range(0, images.shape[0], chunk):
        part = images[start : start + chunk].float()
        part = F.interpolate(part, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        resized[start : start + chunk] = part.round_().clamp_(0, 255).to(torch.uint8)
    return resized


@dataclass
class InMemoryImages:
    """Images as uint8 [N, C, S, S] with optional int64 labels, already at the model's size."""

    images: torch.Tensor
    labels: Optional[torch.Tensor] = None
    num_classes: int = 0
    class_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return self.images.shape[0]

    def info(self) -> DataInfo:
        return DataInfo(channels=self.images.shape[1], image_size=self.images.shape[-1], num_classes=self.num_classes)

    @property
    def device(self) -> torch.device:
        return self.images.device

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        """One epoch's shuffled indices, on the CPU."""
        return torch.randperm(len(self), generator=generator)

    def heldout(self, limit: int) -> None:
        """Image sets carry no held-out split to score against (yet)."""
        return None

    def to(self, device: torch.device) -> "InMemoryImages":
        labels = None if self.labels is None else self.labels.to(device)
        return InMemoryImages(self.images.to(device), labels, self.num_classes, self.class_names)

    def batch(self, indices: torch.Tensor, memory_format=torch.contiguous_format) -> Batch:
        batch = {"image": to_unit_range(self.images[indices], memory_format)}
        if self.labels is not None:
            batch["label"] = self.labels[indices]
        return batch

    def batches(self, index_batches: Iterator[torch.Tensor], memory_format=torch.contiguous_format) -> Iterator[Batch]:
        return (self.batch(indices, memory_format) for indices in index_batches)

    def scoring_images(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The real images (and labels) that sample scores compare against, on the CPU."""
        return self.images.cpu(), None if self.labels is None else self.labels.cpu()


def epoch_order(dataset, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order of one epoch, from (seed, epoch) alone, on the dataset's device."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return dataset.epoch_order(generator).to(dataset.device)


def index_batches(dataset, batch_size: int, seed: int, epoch: int, position: int, shard: Shard) -> Iterator[torch.Tensor]:
    """The indices of every batch from (epoch, position) on, epoch after epoch (the remainder of an
    epoch is dropped); this process's share of each under data-parallel training."""
    order = epoch_order(dataset, seed, epoch)
    while True:
        if position + batch_size > len(dataset):
            epoch, position = epoch + 1, 0
            order = epoch_order(dataset, seed, epoch)
        yield shard.part(order[position : position + batch_size])
        position += batch_size


class BatchStream:
    """Endless shuffled batches, epoch after epoch, resumable from ``state_dict``.

    Each epoch's order comes from (seed, epoch) alone, so a resumed run sees exactly the batches the
    uninterrupted run would have seen. The dataset turns the index batches into batches
    (``dataset.batches``): at once for data in memory, a few batches ahead in worker processes for
    data streamed from disk.
    """

    def __init__(self, dataset, batch_size: int, seed: int, memory_format=torch.contiguous_format, shard: Shard = SINGLE_PROCESS):
        self.dataset = dataset
        self.batch_size = batch_size  # the global batch; each process takes its share (``shard``)
        self.seed = seed
        self.memory_format = memory_format
        self.shard = shard
        self.epoch = 0
        self.position = 0
        # Holds no reference back to the stream, so dropping the stream stops a streamed set's workers at once.
        self._batches: Optional[Iterator[Batch]] = None

    def __next__(self) -> Batch:
        if self._batches is None:
            indices = index_batches(self.dataset, self.batch_size, self.seed, self.epoch, self.position, self.shard)
            self._batches = self.dataset.batches(indices, self.memory_format)
        batch = next(self._batches)
        if self.position + self.batch_size > len(self.dataset):  # the steps index_batches takes
            self.epoch, self.position = self.epoch + 1, 0
        self.position += self.batch_size
        return batch

    def __iter__(self):
        return self

    @property
    def batches_per_epoch(self) -> int:
        return len(self.dataset) // self.batch_size

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.seed, self.epoch, self.position = state["seed"], state["epoch"], state["position"]
        self.close()  # the next batch starts the order afresh from the restored state

    def close(self) -> None:
        """Stop a streamed set's worker processes (in-memory data has none)."""
        if self._batches is not None and hasattr(self._batches, "close"):
            self._batches.close()
        self._batches = None
