"""Multilayer perceptrons on flattened images: the vanilla GAN's G and D, and the pieces others reuse."""

from __future__ import annotations

from enum import Enum

import torch
from torch import nn


class Arch(str, Enum):
    """Network style for families that offer both: the vanilla GAN's MLPs or DCGAN's convolutions."""

    mlp = "mlp"
    conv = "conv"


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
