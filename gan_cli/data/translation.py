"""Image-to-image data in memory: an input and a target domain, with the reference's training jitter.

``data.direction`` is applied here, once: the families only ever see ``input`` and ``target``. Paired
data (pix2pix) yields aligned pairs, cropped and flipped identically; unpaired data (CycleGAN) yields
independent draws from each domain. The held-out split is never trained on and never jittered.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from gan_cli.config import Direction
from gan_cli.data.memory import to_unit_range
from gan_cli.data.translation_folders import TranslationSplits
from gan_cli.families.base import Batch, DataInfo, HeldOut

REFERENCE_LOAD, REFERENCE_CROP = 286, 256  # pix2pix/CycleGAN: resize to 286, random-crop 256


def jitter_load_size(image_size: int) -> int:
    """The reference's 286/256 resize-before-crop, scaled to the image size."""
    return round(image_size * REFERENCE_LOAD / REFERENCE_CROP)


@dataclass
class TranslationImages:
    """uint8 [N, C, L, L] training images of both domains (L >= image_size for the crop jitter) and
    uint8 [M, C, S, S] held-out ones."""

    train_input: torch.Tensor
    train_target: torch.Tensor
    test_input: torch.Tensor
    test_target: torch.Tensor
    paired: bool
    test_paired: bool
    eval_split: str
    image_size: int
    flip: bool = True

    @classmethod
    def from_splits(cls, splits: TranslationSplits, direction: Direction, image_size: int, flip: bool):
        sides = (splits.train_a, splits.train_b, splits.test_a, splits.test_b)
        if Direction(direction) is Direction.BtoA:
            sides = (splits.train_b, splits.train_a, splits.test_b, splits.test_a)
        return cls(*sides, splits.paired, splits.test_paired, splits.eval_split, image_size, flip)

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
        )

    def to(self, device: torch.device) -> "TranslationImages":
        moved = {k: getattr(self, k).to(device) for k in ("train_input", "train_target", "test_input", "test_target")}
        return replace(self, **moved)

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
        crops = self.draw_crops(len(indices))
        inputs = self.crop_and_flip(self.train_input[input_index], *crops)
        if not self.paired:
            crops = self.draw_crops(len(indices))
        targets = self.crop_and_flip(self.train_target[target_index], *crops)
        return {"input": to_unit_range(inputs, memory_format), "target": to_unit_range(targets, memory_format)}

    def draw_crops(self, count: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Top and left offsets of each crop and whether to flip it, from the global torch RNG (which
        a checkpoint saves, so a resumed run draws the same crops)."""
        spare = self.train_input.shape[-1] - self.image_size
        top, left = torch.randint(0, spare + 1, (2, count))
        flips = torch.rand(count) < 0.5 if self.flip else torch.zeros(count, dtype=torch.bool)
        return top, left, flips

    def crop_and_flip(self, images: torch.Tensor, top: torch.Tensor, left: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
        """A size×size window of each image at its own offset, mirrored where ``flips`` says."""
        span = torch.arange(self.image_size)
        rows = (top[:, None] + span).to(images.device)  # [B, S]
        cols = (left[:, None] + span).to(images.device)
        cols = torch.where(flips.to(images.device)[:, None], cols.flip(1), cols)
        batch = torch.arange(len(images), device=images.device)[:, None, None]
        # Advanced indexing puts the indexed dimensions first: [B, S, S, C] → [B, C, S, S].
        return images.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)

    def heldout(self, limit: int) -> HeldOut:
        """The first ``limit`` held-out images of each side (0: all), in [-1, 1]."""
        first = slice(None, limit or None)
        return HeldOut(
            to_unit_range(self.test_input[first]), to_unit_range(self.test_target[first]), self.test_paired, self.eval_split
        )
