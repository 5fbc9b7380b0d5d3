"""The vanilla GAN: multilayer perceptrons for both G and D, as in Goodfellow et al. (2014)."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from gan_cli.config import ModelConfig
from gan_cli.families.base import register_family
from gan_cli.families.noise_to_image import NoiseToImageFamily
from gan_cli.networks.mlp import MLPDiscriminator, MLPGenerator


@dataclass
class GanConfig(ModelConfig):
    name: str = "gan"
    image_size: int = 28
    nz: int = 100  # latent size
    g_hidden: list[int] = field(default_factory=lambda: [256, 512, 1024])
    d_hidden: list[int] = field(default_factory=lambda: [512, 256])
    d_dropout: float = 0.3  # keeps the MLP D from memorising the batch


@register_family("gan", GanConfig)
class VanillaGAN(NoiseToImageFamily):
    def build_networks(self) -> dict[str, nn.Module]:
        cfg, data = self.model_cfg, self.data
        return {
            "G": MLPGenerator(cfg.nz, list(cfg.g_hidden), data.channels, data.image_size),
            "D": MLPDiscriminator(list(cfg.d_hidden), data.channels, data.image_size, cfg.d_dropout),
        }
