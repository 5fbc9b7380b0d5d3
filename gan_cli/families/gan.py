"""The vanilla GAN: multilayer perceptrons for both G and D, as in Goodfellow et al. (2014)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from gan_cli.config import ModelConfig
from gan_cli.families.base import register_family
from gan_cli.families.noise_to_image import NoiseToImageFamily


@dataclass
class GanConfig(ModelConfig):
    name: str = "gan"
    image_size: int = 28
    nz: int = 100  # latent size
    g_hidden: list[int] = field(default_factory=lambda: [256, 512, 1024])
    d_hidden: list[int] = field(default_factory=lambda: [512, 256])
    d_dropout: float = 0.3  # keeps the MLP D from memorising the batch


def mlp(sizes: list[int], activation: nn.Module, dropout: float = 0.0) -> list[nn.Module]:
    """Linear layers between consecutive sizes, each followed by the activation (and dropout)."""
    layers: list[nn.Module] = []
    for size_in, size_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(size_in, size_out), activation]
        if dropout:
            layers.append(nn.Dropout(dropout))
    return layers


class MLPGenerator(nn.Module):
    def __init__(self, nz: int, hidden: list[int], channels: int, image_size: int):
        super().__init__()
        self.image_shape = (channels, image_size, image_size)
        out_features = channels * image_size * image_size
        self.net = nn.Sequential(
            *mlp([nz, *hidden], nn.LeakyReLU(0.2)), nn.Linear(hidden[-1], out_features), nn.Tanh()
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.image_shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, hidden: list[int], channels: int, image_size: int, dropout: float):
        super().__init__()
        in_features = channels * image_size * image_size
        self.net = nn.Sequential(
            *mlp([in_features, *hidden], nn.LeakyReLU(0.2), dropout), nn.Linear(hidden[-1], 1)
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.flatten(1)).squeeze(1)


@register_family("gan", GanConfig)
class VanillaGAN(NoiseToImageFamily):
    def build_networks(self) -> dict[str, nn.Module]:
        cfg, data = self.model_cfg, self.data
        return {
            "G": MLPGenerator(cfg.nz, list(cfg.g_hidden), data.channels, data.image_size),
            "D": MLPDiscriminator(list(cfg.d_hidden), data.channels, data.image_size, cfg.d_dropout),
        }
