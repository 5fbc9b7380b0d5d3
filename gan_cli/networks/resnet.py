"""The CycleGAN ResNet generator (Zhu et al., 2017, after Johnson et al., 2016): downsample twice,
transform with residual blocks at a quarter of the resolution, upsample twice."""

from __future__ import annotations

import torch
from torch import nn

from gan_cli.errors import UserError
from gan_cli.networks.norm import NormKind, init_normal, norm_layer, uses_bias

DOWNSAMPLINGS = 2
MIN_IMAGE_SIZE = 16


def resnet_blocks_for(image_size: int) -> int:
    """The paper's rule: 6 residual blocks below 256 px, 9 at 256 px and above."""
    return 6 if image_size < 256 else 9


def check_resnet_size(image_size: int) -> None:
    """Raise a UserError unless the two stride-2 steps divide the image size evenly."""
    if image_size % 2**DOWNSAMPLINGS or image_size < MIN_IMAGE_SIZE:
        raise UserError(
            f"model.image_size={image_size} does not fit the ResNet generator; "
            f"use a multiple of {2**DOWNSAMPLINGS} that is at least {MIN_IMAGE_SIZE}, e.g. 32, 64, 128 or 256"
        )


class ResidualBlock(nn.Module):
    """x + (reflect-pad → 3x3 conv → norm → ReLU → reflect-pad → 3x3 conv → norm)(x)."""

    def __init__(self, channels: int, norm: NormKind | str):
        super().__init__()
        bias = uses_bias(norm)
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            norm_layer(norm, channels),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            norm_layer(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def conv_norm_relu(conv: nn.Module, channels: int, norm: NormKind | str) -> list[nn.Module]:
    return [conv, norm_layer(norm, channels), nn.ReLU(True)]


class ResnetGenerator(nn.Module):
    """image → image of the same size, with ``n_blocks`` residual blocks ``ngf * 4`` wide at the core."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ngf: int = 64,
        n_blocks: int = 6,
        norm: NormKind | str = NormKind.instance,
    ):
        super().__init__()
        bias = uses_bias(norm)
        # Reflection padding rather than zeros avoids dark borders in the translated images.
        layers = [nn.ReflectionPad2d(3), *conv_norm_relu(nn.Conv2d(in_channels, ngf, 7, bias=bias), ngf, norm)]
        width = ngf
        for _ in range(DOWNSAMPLINGS):
            layers += conv_norm_relu(nn.Conv2d(width, 2 * width, 3, 2, 1, bias=bias), 2 * width, norm)
            width *= 2
        layers += [ResidualBlock(width, norm) for _ in range(n_blocks)]
        for _ in range(DOWNSAMPLINGS):
            upsample = nn.ConvTranspose2d(width, width // 2, 3, 2, 1, output_padding=1, bias=bias)
            layers += conv_norm_relu(upsample, width // 2, norm)
            width //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.apply(init_normal)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)
