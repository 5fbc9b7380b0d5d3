"""Image sets too large for memory, decoded from disk by DataLoader workers while training runs.

Data that fits is faster held in memory as one uint8 tensor, so a folder streams only when holding it
would pass ``data.memory_budget``. A streamed set is a ``LazyImages``: the files, and the function
that decodes one, indexed like the tensor it stands for. Both paths decode each file with the same
function and draw batches in ``BatchStream``'s seeded order, so a run sees the same batches on either
path and resumes exactly on both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, Union

import numpy as np
import torch
from rich.console import Console
from rich.progress import track
from torch.utils.data import DataLoader, Dataset

from gan_cli.data.memory import to_unit_range
from gan_cli.device.memory_budget import available_bytes, gib
from gan_cli.errors import UserError
from gan_cli.families.base import Batch, DataInfo

SCORING_IMAGES = 5000  # real images read into memory for the sample scores of a streamed folder
BATCHES_AHEAD = 4  # per worker: enough to hide a slow file behind the steps


def memory_budget_bytes(budget_gib: float) -> int:
    """data.memory_budget in bytes; 0 means half of the memory free now."""
    return int(budget_gib * 2**30) if budget_gib else available_bytes() // 2


def streams(count: int, nbytes: int, budget_gib: float) -> bool:
    """Whether a set of ``count`` images taking ``nbytes`` in memory is streamed instead; says so."""
    budget = memory_budget_bytes(budget_gib)
    if nbytes <= budget:
        return False
    Console(stderr=True).print(
        f"streaming {count} images from disk: holding them would take {gib(nbytes)}, over the "
        f"{gib(budget)} memory budget (data.memory_budget)"
    )
    return True


@dataclass(frozen=True)
class LazyImages:
    """uint8 images [N, C, S, S] left on disk: indexing one decodes the files it selects."""

    files: tuple[Path, ...]
    channels: int
    size: int
    read: Callable[[Path], np.ndarray]  # one file → uint8 [C, S, S]; raises a UserError naming the file

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.files), self.channels, self.size, self.size)

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: Union[torch.Tensor, slice]) -> torch.Tensor:
        chosen = range(len(self))[index] if isinstance(index, slice) else index.tolist()
        return torch.stack([self.decode(i) for i in chosen]) if len(chosen) else torch.empty((0, *self.shape[1:]), dtype=torch.uint8)

    def decode(self, index: int) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.read(self.files[index])))

    def to(self, device: torch.device) -> "LazyImages":
        return self  # the files stay on disk; batches are moved as they are read


ImageTensor = Union[torch.Tensor, LazyImages]


class DecodedItems(Dataset):
    """Item ``(i, j, ...)`` is (sides[0][i], sides[1][j], ..., error): one image of each side, and the
    one-line error of a file that cannot be decoded ("" when none)."""

    def __init__(self, sides: Sequence[ImageTensor]):
        self.sides = sides

    def __getitem__(self, indices: tuple[int, ...]):
        try:
            return (*(pick(side, index) for side, index in zip(self.sides, indices)), "")
        except UserError as error:  # carried back as data: an exception in a worker arrives as a traceback
            return (*(torch.zeros(side.shape[1:], dtype=torch.uint8) for side in self.sides), str(error))


def pick(side: ImageTensor, index: int) -> torch.Tensor:
    return side.decode(index) if isinstance(side, LazyImages) else side[index]


def prefetched(sides: Sequence[ImageTensor], index_batches: Iterator[torch.Tensor], workers: int, pin: bool) -> Iterator[list[torch.Tensor]]:
    """For each [B] (or [B, len(sides)]) index batch, one uint8 batch per side, decoded by ``workers``
    processes ``BATCHES_AHEAD`` batches each ahead of the step, in order."""
    per_side = (batch.view(len(batch), -1).expand(-1, len(sides)).tolist() for batch in index_batches)
    loader = DataLoader(
        DecodedItems(sides),
        batch_sampler=([tuple(row) for row in batch] for batch in per_side),
        num_workers=workers,
        pin_memory=pin,
        prefetch_factor=BATCHES_AHEAD if workers else None,
        generator=torch.Generator().manual_seed(0),  # its worker seeds; the default would draw from the global generator
    )
    for *images, errors in loader:
        failed = next((error for error in errors if error), None)
        if failed:
            raise UserError(failed)
        yield images


@dataclass
class StreamedImages:
    """An image folder read from disk batch by batch, with the interface of ``InMemoryImages``."""

    images: LazyImages
    labels: Optional[torch.Tensor] = None
    num_classes: int = 0
    class_names: tuple[str, ...] = ()
    workers: int = 2
    target_device: torch.device = torch.device("cpu")  # where batches go

    def __len__(self) -> int:
        return len(self.images)

    def info(self) -> DataInfo:
        return DataInfo(channels=self.images.channels, image_size=self.images.size, num_classes=self.num_classes)

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")  # batch orders are made here and sent to the workers

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        return torch.randperm(len(self), generator=generator)

    def heldout(self, limit: int) -> None:
        return None

    def to(self, device: torch.device) -> "StreamedImages":
        return replace(self, target_device=torch.device(device))

    def batches(self, index_batches: Iterator[torch.Tensor], memory_format=torch.contiguous_format) -> Iterator[Batch]:
        sides = [self.images] if self.labels is None else [self.images, self.labels]  # labels ride along as a side
        for decoded in prefetched(sides, index_batches, self.workers, pin=self.target_device.type == "cuda"):
            yield self.to_batch(memory_format, *decoded)

    def batch(self, indices: torch.Tensor, memory_format=torch.contiguous_format) -> Batch:
        """One batch decoded here, in this process."""
        return self.to_batch(memory_format, self.images[indices], None if self.labels is None else self.labels[indices])

    def to_batch(self, memory_format, pixels: torch.Tensor, labels: Optional[torch.Tensor] = None) -> Batch:
        batch = {"image": to_unit_range(pixels.to(self.target_device, non_blocking=True), memory_format)}
        if labels is not None:
            batch["label"] = labels.to(self.target_device, non_blocking=True)
        return batch

    def scoring_images(self, count: int = SCORING_IMAGES) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """A fixed subset of ``count`` images, read into memory once, for the sample scores."""
        chosen = torch.randperm(len(self), generator=torch.Generator().manual_seed(0))[:count].sort().values
        chunks = track(chosen.split(256), description="reading the real images for scoring", transient=True, console=Console(stderr=True))
        images = torch.cat([self.images[chunk] for chunk in chunks])
        return images, None if self.labels is None else self.labels[chosen]
