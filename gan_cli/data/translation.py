"""Image-to-image data in memory: an input and a target domain, with the reference's training jitter.

``data.direction`` is applied here, once: the families only ever see ``input`` and ``target``. Paired
data (pix2pix) yields aligned pairs, cropped and flipped identically; unpaired data (CycleGAN) yields
independent draws from each domain. The held-out split is never trained on and never jittered.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator, Optional

import torch

from gan_cli.config import Direction
from gan_cli.data.memory import to_unit_range
from gan_cli.data.streaming import ImageTensor, LazyImages, prefetched
from gan_cli.data.translation_folders import TranslationSplits
from gan_cli.families.base import Batch, DataInfo, HeldOut

LABEL_ROLES = ("train_input", "train_target", "test_input", "test_target")
REFERENCE_LOAD, REFERENCE_CROP = 286, 256  # pix2pix/CycleGAN: resize to 286, random-crop 256


def jitter_load_size(image_size: int) -> int:
    """The reference's 286/256 resize-before-crop, scaled to the image size."""
    return round(image_size * REFERENCE_LOAD / REFERENCE_CROP)


def jitter_shift(image_size: int) -> int:
    """How far the shift-only jitter moves a crop each way: the reference's margin, without resampling."""
    return (jitter_load_size(image_size) - image_size) // 2


@dataclass
class TranslationImages:
    """uint8 [N, C, L, L] training images of both domains (L >= image_size for the crop jitter) and
    uint8 [M, C, S, S] held-out ones."""

    train_input: ImageTensor  # in memory, or a LazyImages streamed from disk (data.memory_budget)
    train_target: ImageTensor
    test_input: ImageTensor
    test_target: ImageTensor
    paired: bool
    test_paired: bool
    eval_split: str
    image_size: int
    flip: bool = True
    workers: int = 2  # streamed sets: processes decoding the files ahead of training
    batch_device: torch.device = torch.device("cpu")  # where batches go
    labels: Optional[dict[str, torch.Tensor]] = None  # classes of "train_input" ... "test_target" (labeled data only)
    classes: int = 0
    shift: int = 0  # training only: crops reach this far past each edge, repeating the border (shift jitter)
    class_names: tuple[str, ...] = ()  # where the data names its classes (class subfolders)

    @classmethod
    def from_splits(cls, splits: TranslationSplits, direction: Direction, image_size: int, flip: bool, workers: int = 2, shift: int = 0):
        names = ("train_a", "train_b", "test_a", "test_b")
        if Direction(direction) is Direction.BtoA:
            names = ("train_b", "train_a", "test_b", "test_a")
        sides = [getattr(splits, name) for name in names]
        labels = None
        if splits.labels is not None:
            labels = {role: splits.labels[name] for role, name in zip(LABEL_ROLES, names)}
        return cls(
            *sides, splits.paired, splits.test_paired, splits.eval_split, image_size, flip, workers,
            labels=labels, classes=splits.classes, class_names=splits.class_names, shift=shift,
        )

    @property
    def streamed(self) -> bool:
        return isinstance(self.train_input, LazyImages) or isinstance(self.train_target, LazyImages)

    def __len__(self) -> int:
        """Training examples per epoch: the pairs, or the larger domain when unpaired."""
        return max(len(self.train_input), len(self.train_target))

    @property
    def device(self) -> torch.device:
        return self.train_input.device

    def info(self) -> DataInfo:
        return DataInfo(
            channels=self.train_input.shape[1],
            image_size=self.image_size,
            fields=("input", "target"),
            target_channels=self.train_target.shape[1],
            paired=self.paired,
            num_classes=self.classes,
        )

    def to(self, device: torch.device) -> "TranslationImages":
        moved = {k: getattr(self, k).to(device) for k in ("train_input", "train_target", "test_input", "test_target")}
        return replace(self, **moved, batch_device=torch.device(device))

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        """Paired: shuffled pair indices [N]. Unpaired: [N, 2], each domain shuffled on its own,
        the smaller one cycled, as the reference's unaligned dataset does."""
        if self.paired:
            return torch.randperm(len(self), generator=generator)
        n = len(self)
        input_order = torch.randperm(n, generator=generator) % len(self.train_input)
        target_order = torch.randperm(n, generator=generator) % len(self.train_target)
        return torch.stack([input_order, target_order], dim=1)

    def batch(self, indices: torch.Tensor, memory_format=torch.contiguous_format) -> Batch:
        input_index, target_index = (indices, indices) if indices.dim() == 1 else indices.unbind(1)
        return self.jittered(self.train_input[input_index], self.train_target[target_index], memory_format)

    def batches(self, index_batches: Iterator[torch.Tensor], memory_format=torch.contiguous_format) -> Iterator[Batch]:
        """In memory: each batch as it is asked for. Streamed: decoded ahead by worker processes, then
        cropped and flipped here, drawing the same random numbers as in memory."""
        if not self.streamed:
            return (self.batch(indices, memory_format) for indices in index_batches)
        sides = [self.train_input, self.train_target]
        decoded = prefetched(sides, index_batches, self.workers, pin=self.batch_device.type == "cuda")
        return (self.jittered(inputs, targets, memory_format) for inputs, targets in decoded)

    def jittered(self, inputs: torch.Tensor, targets: torch.Tensor, memory_format) -> Batch:
        """Uint8 training images at the load size → a cropped (and flipped) batch in [-1, 1]."""
        crops = self.draw_crops(len(inputs))
        inputs = self.crop_and_flip(inputs.to(self.batch_device, non_blocking=True), *crops)
        if not self.paired:
            crops = self.draw_crops(len(inputs))
        targets = self.crop_and_flip(targets.to(self.batch_device, non_blocking=True), *crops)
        return {"input": to_unit_range(inputs, memory_format), "target": to_unit_range(targets, memory_format)}

    def draw_crops(self, count: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Top and left offsets of each crop and whether to flip it, from the global torch RNG (which
        a checkpoint saves, so a resumed run draws the same crops)."""
        spare = self.train_input.shape[-1] + 2 * self.shift - self.image_size
        top, left = torch.randint(0, spare + 1, (2, count))
        flips = torch.rand(count) < 0.5 if self.flip else torch.zeros(count, dtype=torch.bool)
        return top, left, flips

    def crop_and_flip(self, images: torch.Tensor, top: torch.Tensor, left: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
        """A size×size window of each image at its own offset, mirrored where ``flips`` says; a window
        reaching past an edge (``shift``) repeats the border pixels."""
        span = torch.arange(self.image_size) - self.shift
        last = images.shape[-1] - 1
        rows = (top[:, None] + span).clamp(0, last).to(images.device)  # [B, S]
        cols = (left[:, None] + span).clamp(0, last).to(images.device)
        cols = torch.where(flips.to(images.device)[:, None], cols.flip(1), cols)
        batch = torch.arange(len(images), device=images.device)[:, None, None]
        # Advanced indexing puts the indexed dimensions first: [B, S, S, C] → [B, C, S, S].
        return images.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)

    def heldout(self, limit: int) -> HeldOut:
        """The first ``limit`` held-out images of each side (0: all), in [-1, 1]."""
        first = slice(None, limit or None)
        inputs, targets = (side[first].to(self.batch_device) for side in (self.test_input, self.test_target))
        labels = (None, None) if self.labels is None else (self.labels["test_input"][first], self.labels["test_target"][first])
        return HeldOut(to_unit_range(inputs), to_unit_range(targets), self.test_paired, self.eval_split, *labels)

    def labeled_training_images(self, side: str) -> Optional[tuple[ImageTensor, torch.Tensor]]:
        """uint8 training images of one domain ("input" or "target"), in memory or streamed, and their
        classes; None when unlabeled."""
        if self.labels is None:
            return None
        return getattr(self, f"train_{side}"), self.labels[f"train_{side}"]
