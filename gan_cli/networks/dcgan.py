"""DCGAN's networks (Radford et al., 2015): transposed convolutions in G, strided convolutions in D.

The paper's rules: no pooling, BatchNorm everywhere except G's output and D's input, ReLU in G with
tanh at the output, LeakyReLU(0.2) in D, weights drawn from N(0, 0.02).
"""

from __future__ import annotations

from enum import Enum

import torch
from torch import nn

from gan_cli.errors import UserError


def upsampling_layers(image_size: int) -> int:
    """Stride-2 layers between the 4x4 seed and the image."""
    if image_size < 16 or image_size & (image_size - 1):
        raise UserError(f"model.image_size={image_size} is not supported by DCGAN; use 16, 32, 64 or 128")
    return image_size.bit_length() - 3


def dcgan_init(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class ConvGenerator(nn.Module):
    """z → 4x4 feature map → doubling resolution and halving width → image."""

    def __init__(self, nz: int, ngf: int, channels: int, image_size: int, in_features: int | None = None):
        super().__init__()
        layers_up = upsampling_layers(image_size)
        width = ngf * 2 ** (layers_up - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_features or nz, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(layers_up - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DNorm(str, Enum):
    """D's feature normalisation: batch (the DCGAN paper); layer or none for a per-image gradient
    penalty (WGAN-GP), which BatchNorm's mixing of the batch makes wrong."""

    batch = "batch"
    layer = "layer"
    none = "none"


def d_norm_layer(kind: DNorm | str, channels: int) -> nn.Module:
    kind = DNorm(kind)
    if kind is DNorm.batch:
        return nn.BatchNorm2d(channels)
    if kind is DNorm.layer:  # one group: normalised over each image's channels and pixels
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class ConvDiscriminator(nn.Module):
    """image → halving resolution and doubling width → 4x4 → one logit."""

    def __init__(self, ndf: int, channels: int, image_size: int, norm: DNorm | str = DNorm.batch):
        super().__init__()
        layers_down = upsampling_layers(image_size)
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        width = ndf
        for _ in range(layers_down - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), d_norm_layer(norm, width * 2), nn.LeakyReLU(0.2, True)]
            width *= 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(width, 1, 4, 1, 0, bias=False)
        self.apply(dcgan_init)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images)).flatten()
