"""The vanilla GAN: multilayer perceptrons for both G and D, as in Goodfellow et al. (2014)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from gan_cli.config import ModelConfig
from gan_cli.families.base import register_family
from gan_cli.families.noise_to_image import NoiseToImageFamily
from gan_cli.networks.mlp import MLPDiscriminator, MLPGenerator
from gan_cli.ranges import ranged


@dataclass
class GanConfig(ModelConfig):
    name: str = "gan"
    image_size: int = 28
    nz: int = ranged(100, low=1, high=4096)  # latent size
    g_hidden: list[int] = ranged(default_factory=lambda: [256, 512, 1024], low=1, high=16384, max_items=8)  # G's hidden layers
    d_hidden: list[int] = ranged(default_factory=lambda: [512, 256], low=1, high=16384, max_items=8)  # D's hidden layers
    d_dropout: float = ranged(0.3, low=0, high=1, high_open=True)  # keeps the MLP D from memorising the batch


@register_family("gan", GanConfig)
class VanillaGAN(NoiseToImageFamily):
    def build_networks(self) -> dict[str, nn.Module]:
        cfg, data = self.model_cfg, self.data
        return {
            "G": MLPGenerator(cfg.nz, list(cfg.g_hidden), data.channels, data.image_size),
            "D": MLPDiscriminator(list(cfg.d_hidden), data.channels, data.image_size, cfg.d_dropout),
        }
