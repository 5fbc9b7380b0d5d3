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
from gan_cli.metrics.translation import (
    INPUT_DOMAIN,
    MeanL1,
    SemanticScores,
    TranslationJudges,
    TranslationScores,
    semantic_names,
)

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
    data_hint = "it translates images; use data=fashion_edges, data=mnist_edges, data=paired_folder or data=unpaired_folder"

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
    def evaluate(self, heldout: HeldOut, batch_size: int, judges: Optional[TranslationJudges] = None) -> dict[str, float]:
        """L1, PSNR and SSIM against the targets (paired held-out data), the cycle L1 where the family
        translates both ways, and with ``judges`` the FID and class accuracy of each direction."""
        self.networks.eval()
        try:
            with fixed_randomness(self.device):
                figures = self.score_forward(heldout, batch_size, judges)
                if self.has_cycle:
                    figures |= self.score_reverse(heldout, batch_size, judges)
        finally:
            self.networks.train()
        return figures

    def score_forward(self, heldout: HeldOut, batch_size: int, judges: Optional[TranslationJudges]) -> dict[str, float]:
        scores, cycle, semantic = TranslationScores(), MeanL1(), SemanticScores(judges.target) if judges else None
        for start in range(0, len(heldout.input), batch_size):
            window = slice(start, start + batch_size)
            source = heldout.input[window].to(self.device)
            output = self.translate(source)
            if heldout.paired:
                scores.update(output, heldout.target[window])
            if semantic is not None:
                semantic.update(output, None if heldout.input_labels is None else heldout.input_labels[window])
            if self.has_cycle:
                cycle.update(self.translate(output, reverse=True), source)
        figures = {f"eval/{key}": value for key, value in scores.compute().items()} if heldout.paired else {}
        if semantic is not None:
            figures |= {f"eval/{key}": value for key, value in semantic.compute().items()}
        return figures | ({"eval/cycle_l1_input": cycle.compute()} if self.has_cycle else {})

    def score_reverse(self, heldout: HeldOut, batch_size: int, judges: Optional[TranslationJudges]) -> dict[str, float]:
        """Target → input, judged in the input domain, and the cycle back to the target."""
        cycle, semantic = MeanL1(), SemanticScores(judges.input) if judges and judges.input else None
        for start in range(0, len(heldout.target), batch_size):
            window = slice(start, start + batch_size)
            target = heldout.target[window].to(self.device)
            output = self.translate(target, reverse=True)
            if semantic is not None:
                semantic.update(output, None if heldout.target_labels is None else heldout.target_labels[window])
            cycle.update(self.translate(output), target)
        figures = {"eval/cycle_l1_target": cycle.compute()}
        if semantic is not None:
            figures |= {f"eval/{INPUT_DOMAIN}{key}": value for key, value in semantic.compute().items()}
        return figures

    @property
    def has_cycle(self) -> bool:
        return False

    def evaluation_names(self) -> tuple[str, ...]:
        """What ``evaluate`` reports in training, where the judges are built for every run that evaluates."""
        names = ("eval/l1", "eval/psnr", "eval/ssim") + semantic_names(labeled=self.data.num_classes > 0, both_ways=self.has_cycle)
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
