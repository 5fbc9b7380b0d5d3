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

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=generator, device=self.device)

    def optimizers(self) -> dict[str, OptimizerSpec]:
        return {"g": OptimizerSpec(("G",), role="g"), "d": OptimizerSpec(("D",), role="d")}

    def phases(self) -> list[Phase]:
        return [
            Phase("d", "d", ("D",), self.discriminator_phase, repeats=self.d_steps, scalars=self.adversarial.d_scalars),
            Phase("g", "g", ("G",), self.generator_phase, scalars=("loss/g",)),
        ]

    def discriminator_phase(self, batch: Batch):
        real = batch["image"]
        fake = self.networks["G"](self.sample_latent(real.shape[0]))
        return self.adversarial.discriminator_step(self.networks["D"], real, fake)

    def generator_phase(self, batch: Batch):
        fake = self.networks["G"](self.sample_latent(batch["image"].shape[0]))
        loss = self.adversarial.generator(self.networks["D"](fake))
        return loss, {"loss/g": loss.detach()}

    def grid_inputs(self, num_samples: int, generator: torch.Generator, heldout: Optional[HeldOut] = None) -> GridSpec:
        z = torch.randn(num_samples, self.latent_dim, generator=generator).to(self.device)
        return GridSpec({"z": z}, nrow=max(1, round(math.sqrt(num_samples))))

    def generate(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.networks["G"](inputs["z"])
