"""The classic setup shared by the MLP GAN and DCGAN: G maps noise z to an image, D scores images."""

from __future__ import annotations

import math
from typing import Optional

import torch

from gan_cli.families.base import Batch, Family, GridSpec, HeldOut, OptimizerSpec, Phase


class NoiseToImageFamily(Family):
    """Alternating D and G phases; subclasses only build the networks "G" and "D"."""

    @property
    def latent_dim(self) -> int:
        return self.model_cfg.nz

    def sample_latent(self, n: int) -> torch.Tensor:
        """Latents for a training batch of ``n`` (this process's shard of it)."""
        return self.draw_rows(lambda rows: torch.randn(rows, self.latent_dim, device=self.device), n)

    def optimizers(self) -> dict[str, OptimizerSpec]:
        return {"g": OptimizerSpec(("G",), role="g"), "d": OptimizerSpec(("D",), role="d")}

    def phases(self) -> list[Phase]:
        return [
            Phase("d", "d", ("D",), self.discriminator_phase, repeats=self.d_steps, scalars=self.adversarial.d_scalars, records=("G",)),
            Phase("g", "g", ("G",), self.generator_phase, scalars=("loss/g",)),
        ]

    def discriminator_phase(self, batch: Batch):
        real = batch["image"]
        z = self.sample_latent(real.shape[0])
        fake = self.hand_on("fake", self.networks["G"](z), z)
        return self.adversarial.discriminator_step(self.networks["D"], real, fake)

    def generator_phase(self, batch: Batch):
        """G is scored on the fakes of the last D step, as in the canonical loop: one G forward per step."""
        fake = self.take("fake", self.networks["G"], lambda: (self.sample_latent(batch["image"].shape[0]),))
        loss = self.adversarial.generator(self.networks["D"](fake))
        return loss, {"loss/g": loss.detach()}

    def grid_inputs(self, num_samples: int, generator: torch.Generator, heldout: Optional[HeldOut] = None) -> GridSpec:
        z = torch.randn(num_samples, self.latent_dim, generator=generator).to(self.device)
        return GridSpec({"z": z}, nrow=max(1, round(math.sqrt(num_samples))))

    def generate(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.networks["G"](inputs["z"])
