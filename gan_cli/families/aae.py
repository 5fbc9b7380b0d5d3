"""Adversarial autoencoder (Makhzani et al., 2015): an autoencoder whose code is pushed toward a prior.

Networks: an encoder E (image → code), a decoder ("G", code → image) and a discriminator "D" on codes,
not on images. Each training step has three phases on the same batch:

1. ``recon``: E and G minimise the mean squared error between x and G(E(x)) (optimizer "ae", role g).
2. ``d``: D learns to tell prior samples z ~ p(z) (real) from codes E(x) (fake) (optimizer "d", role d).
3. ``g``: E, acting as the generator, learns to make its codes pass as prior samples (optimizer "g",
   role g; E is the only network it updates).

Once the aggregated code distribution matches the prior, decoding prior samples gives images: that is
how this family samples. Logged scalars: ``loss/recon``, ``loss/d``, ``loss/g``, ``d/real`` (D on prior
samples) and ``d/fake`` (D on codes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from gan_cli.config import ModelConfig
from gan_cli.families.base import Batch, Family, GridSpec, HeldOut, OptimizerSpec, Phase, register_family
from gan_cli.networks.dcgan import ConvDiscriminator, ConvGenerator
from gan_cli.networks.mlp import Arch, MLPGenerator, mlp
from gan_cli.ranges import ranged


class Prior(str, Enum):
    """The distribution the code is pushed toward, and that sampling draws from."""

    gaussian = "gaussian"  # N(0, I)
    uniform = "uniform"  # U(-1, 1) in each coordinate


@dataclass
class AaeConfig(ModelConfig):
    name: str = "aae"
    arch: Arch = Arch.mlp  # mlp: fully connected E and decoder, as in the paper; conv: DCGAN-style ones
    image_size: int = 28
    nz: int = ranged(8, low=1, high=4096)  # code size
    prior: Prior = Prior.gaussian
    hidden: list[int] = ranged(default_factory=lambda: [512, 512], low=1, high=16384, max_items=8)  # mlp: E's hidden layers; the decoder mirrors them
    ngf: int = ranged(32, low=1, high=1024)  # conv: decoder width at its last hidden layer
    ndf: int = ranged(32, low=1, high=1024)  # conv: encoder width at its first layer
    d_hidden: list[int] = ranged(default_factory=lambda: [256, 256], low=1, high=16384, max_items=8)  # the code discriminator's hidden layers
    batch_stats: bool = True  # the code D also sees the batch's per-coordinate mean and std: collapse stands out


class MLPEncoder(nn.Module):
    def __init__(self, nz: int, hidden: list[int], channels: int, image_size: int):
        super().__init__()
        in_features = channels * image_size * image_size
        self.net = nn.Sequential(*mlp([in_features, *hidden], nn.LeakyReLU(0.2)), nn.Linear(hidden[-1], nz))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.flatten(1))


class ConvEncoder(nn.Module):
    """DCGAN's discriminator body with a code-sized head instead of a single logit."""

    def __init__(self, nz: int, ndf: int, channels: int, image_size: int):
        super().__init__()
        body = ConvDiscriminator(ndf, channels, image_size)
        self.features = body.features
        self.head = nn.Conv2d(body.head.in_channels, nz, 4, 1, 0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images)).flatten(1)


class CodeDiscriminator(nn.Module):
    """An MLP that scores a code: high for prior samples, low for encoder outputs.

    With ``batch_stats`` it also sees the batch's per-coordinate mean and standard deviation beside each
    code (minibatch discrimination in the style of the minibatch-std feature of Karras et al., 2018). A
    deterministic encoder otherwise tends to park all codes in one high-scoring spot, or drift them
    together: each code looks plausible alone, and only the batch shows the collapse.
    """

    def __init__(self, nz: int, hidden: list[int], batch_stats: bool):
        super().__init__()
        self.batch_stats = batch_stats
        in_features = 3 * nz if batch_stats else nz
        self.net = nn.Sequential(*mlp([in_features, *hidden], nn.LeakyReLU(0.2)), nn.Linear(hidden[-1], 1))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        if self.batch_stats:
            mean = codes.mean(0, keepdim=True)
            std = codes.std(0, keepdim=True) if codes.shape[0] > 1 else torch.ones_like(mean)
            codes = torch.cat([codes, mean.expand_as(codes), std.expand_as(codes)], dim=1)
        return self.net(codes).squeeze(1)


def draw_prior(prior: Prior, n: int, nz: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    if Prior(prior) is Prior.uniform:
        return torch.rand(n, nz, generator=generator, device=device).mul_(2).sub_(1)
    return torch.randn(n, nz, generator=generator, device=device)


@register_family("aae", AaeConfig)
class AdversarialAutoencoder(Family):
    critic_sees_images = False

    def build_networks(self) -> dict[str, nn.Module]:
        cfg, data = self.model_cfg, self.data
        if Arch(cfg.arch) is Arch.conv:
            encoder = ConvEncoder(cfg.nz, cfg.ndf, data.channels, data.image_size)
            decoder = ConvGenerator(cfg.nz, cfg.ngf, data.channels, data.image_size)
        else:
            hidden = list(cfg.hidden)
            encoder = MLPEncoder(cfg.nz, hidden, data.channels, data.image_size)
            decoder = MLPGenerator(cfg.nz, hidden[::-1], data.channels, data.image_size)
        return {"E": encoder, "G": decoder, "D": CodeDiscriminator(cfg.nz, list(cfg.d_hidden), cfg.batch_stats)}

    @property
    def latent_dim(self) -> int:
        return self.model_cfg.nz

    @property
    def prior(self) -> str:
        return Prior(self.model_cfg.prior).value

    def optimizers(self) -> dict[str, OptimizerSpec]:
        return {
            "ae": OptimizerSpec(("E", "G"), role="g"),
            "d": OptimizerSpec(("D",), role="d"),
            "g": OptimizerSpec(("E",), role="g"),
        }

    def phases(self) -> list[Phase]:
        return [
            Phase("recon", "ae", ("E", "G"), self.reconstruction_phase, scalars=("loss/recon",)),
            Phase("d", "d", ("D",), self.discriminator_phase, repeats=self.d_steps, scalars=self.adversarial.d_scalars),
            Phase("g", "g", ("E",), self.encoder_phase, scalars=("loss/g",)),
        ]

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.networks["E"](images)

    def reconstruction_phase(self, batch: Batch):
        images = batch["image"]
        loss = F.mse_loss(self.networks["G"](self.encode(images)), images)
        return loss, {"loss/recon": loss.detach()}

    def discriminator_phase(self, batch: Batch):
        codes = self.encode(batch["image"])
        draw = partial(draw_prior, self.model_cfg.prior, nz=self.latent_dim, device=codes.device)
        prior = self.draw_rows(draw, codes.shape[0])
        return self.adversarial.discriminator_step(self.networks["D"], prior, codes)

    def encoder_phase(self, batch: Batch):
        loss = self.adversarial.generator(self.networks["D"](self.encode(batch["image"])))
        return loss, {"loss/g": loss.detach()}

    def grid_inputs(self, num_samples: int, generator: torch.Generator, heldout: Optional[HeldOut] = None) -> GridSpec:
        z = draw_prior(self.model_cfg.prior, num_samples, self.latent_dim, generator).to(self.device)
        return GridSpec({"z": z}, nrow=max(1, round(math.sqrt(num_samples))))

    def generate(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.networks["G"](inputs["z"])
