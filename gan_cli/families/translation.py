"""What pix2pix and CycleGAN share: a generator that maps an input image to a target-domain image,
sample grids of input | output | target from fixed held-out images, and scores against ground truth.

Held-out scoring and grids run under a fixed, forked RNG: pix2pix's dropout stays on at sampling, and
neither the figures nor the training run's random stream may depend on when they were drawn.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import torch
from torch import nn

from gan_cli.families.base import Family, GridSpec, HeldOut
from gan_cli.metrics.translation import MeanL1, TranslationScores

EVAL_SEED = 4321
GRID_EXAMPLES_PER_ROW = 4


@contextlib.contextmanager
def fixed_randomness(device: torch.device, seed: int = EVAL_SEED) -> Iterator[None]:
    """Draw from a seeded RNG and give the run's own RNG state back afterwards."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def as_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Grayscale repeated to RGB where a grid mixes the two."""
    return images if images.shape[1] == channels else images.expand(-1, channels, -1, -1)


class TranslationFamily(Family):
    """A family whose ``generate`` translates ``inputs["input"]`` into the target domain."""

    needs_fields = ("input", "target")
    data_hint = "it translates images; use data=fashion_edges, data=paired_folder or data=unpaired_folder"

    @property
    def target_channels(self) -> int:
        return self.data.target_channels or self.data.channels

    def translate(self, images: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        """Input-domain images to the target domain (``reverse``: the other way, where the family can)."""
        raise NotImplementedError

    def reconstruct(self, images: torch.Tensor) -> Optional[torch.Tensor]:
        """Input → target → input, for families with both directions; None otherwise."""
        return None

    def generate(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.translate(inputs["input"])

    def grid_inputs(self, num_samples: int, generator: torch.Generator, heldout: Optional[HeldOut] = None) -> GridSpec:
        """The first held-out images, up to a quarter of ``num_samples`` of them, four to a grid row."""
        if heldout is None:
            raise ValueError("a translation grid needs held-out images")
        examples = max(1, min(len(heldout.input), num_samples // 4))
        inputs = {"input": heldout.input[:examples].to(self.device)}
        if heldout.paired:
            inputs["target"] = heldout.target[:examples].to(self.device)
        columns = 3 * min(examples, GRID_EXAMPLES_PER_ROW)
        return GridSpec(inputs, nrow=columns)

    def grid_images(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """input | output | target for each example (the cycle reconstruction when there is no target)."""
        with fixed_randomness(self.device):
            outputs = self.translate(inputs["input"])
            third = inputs.get("target")
            if third is None:
                third = self.reconstruct(inputs["input"])
            if third is None:
                third = torch.zeros_like(outputs)
        channels = max(inputs["input"].shape[1], outputs.shape[1], third.shape[1])
        columns = [as_channels(images.float(), channels) for images in (inputs["input"], outputs, third)]
        return torch.stack(columns, dim=1).flatten(0, 1)

    @torch.no_grad()
    def evaluate(self, heldout: HeldOut, batch_size: int) -> dict[str, float]:
        """L1, PSNR and SSIM against the targets (paired held-out data), and the cycle L1 where the
        family translates both ways."""
        scores, cycle_input, cycle_target = TranslationScores(), MeanL1(), MeanL1()
        self.networks.eval()
        try:
            with fixed_randomness(self.device):
                for start in range(0, len(heldout.input), batch_size):
                    source = heldout.input[start : start + batch_size].to(self.device)
                    if heldout.paired:
                        scores.update(self.translate(source), heldout.target[start : start + batch_size])
                    if self.has_cycle:
                        cycle_input.update(self.reconstruct(source), source)
                for start in range(0, len(heldout.target) if self.has_cycle else 0, batch_size):
                    target = heldout.target[start : start + batch_size].to(self.device)
                    cycle_target.update(self.translate(self.translate(target, reverse=True)), target)
        finally:
            self.networks.train()
        figures = {f"eval/{key}": value for key, value in scores.compute().items()} if heldout.paired else {}
        if self.has_cycle:
            figures |= {"eval/cycle_l1_input": cycle_input.compute(), "eval/cycle_l1_target": cycle_target.compute()}
        return figures

    @property
    def has_cycle(self) -> bool:
        return False

    def evaluation_names(self) -> tuple[str, ...]:
        names = ("eval/l1", "eval/psnr", "eval/ssim")
        return names + ("eval/cycle_l1_input", "eval/cycle_l1_target") if self.has_cycle else names


@contextlib.contextmanager
def dropout_on(network: nn.Module) -> Iterator[None]:
    """Keep a network's dropout active in eval mode (pix2pix's noise at sampling, as in the paper)."""
    dropouts = [m for m in network.modules() if isinstance(m, nn.Dropout)]
    were_training = [m.training for m in dropouts]
    for module in dropouts:
        module.train()
    try:
        yield
    finally:
        for module, training in zip(dropouts, were_training):
            module.train(training)
