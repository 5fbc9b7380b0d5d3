"""The pix2pix U-Net generator (Isola et al., 2017): an encoder-decoder whose mirrored levels are joined
by skip connections, so fine detail need not squeeze through the bottleneck."""

from __future__ import annotations

import torch
from torch import nn

from gan_cli.errors import UserError
from gan_cli.networks.norm import NormKind, init_normal, norm_layer, uses_bias

UNET_SIZES = (16, 32, 64, 128, 256, 512)
MAX_DEPTH = 8  # the paper's depth at 256 px; deeper levels would only add 1x1 maps
MAX_DROPOUT_BLOCKS = 3


def unet_depth(image_size: int) -> int:
    """Stride-2 levels: enough to reach a 1x1 bottleneck, at most ``MAX_DEPTH``."""
    if image_size not in UNET_SIZES:
        sizes = ", ".join(map(str, UNET_SIZES[:-1])) + f" or {UNET_SIZES[-1]}"
        raise UserError(
            f"model.image_size={image_size} does not fit the U-Net generator; use a power of two: {sizes}"
        )
    return min(image_size.bit_length() - 1, MAX_DEPTH)


def dropout_levels(depth: int) -> range:
    """The decoder levels with dropout: those just outside the innermost one."""
    innermost = depth - 1
    return range(innermost - min(MAX_DROPOUT_BLOCKS, depth - 2), innermost)


class SkipBlock(nn.Module):
    """One U-Net level: downsample, run the inner levels, upsample, then join the result to the input.

    The outermost level has no skip (it returns the image); the innermost has no inner levels.
    """

    def __init__(
        self,
        in_channels: int,
        width: int,
        out_channels: int,
        inner: SkipBlock | None = None,
        norm: NormKind | str = NormKind.batch,
        dropout: float = 0.0,
        outermost: bool = False,
    ):
        super().__init__()
        self.outermost = outermost
        innermost = inner is None
        self.down = nn.Sequential(*down_path(in_channels, width, norm, outermost, innermost))
        self.inner = nn.Identity() if innermost else inner
        up_channels = width if innermost else 2 * width
        self.up = nn.Sequential(*up_path(up_channels, out_channels, norm, dropout, outermost))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.up(self.inner(self.down(x)))
        return y if self.outermost else torch.cat([x, y], dim=1)


def down_path(in_channels: int, width: int, norm: NormKind | str, outermost: bool, innermost: bool) -> list[nn.Module]:
    """LeakyReLU → stride-2 conv → norm; the image gets no activation, the 1x1 bottleneck no norm."""
    # Not in place: the skip connection must carry the block's input unchanged.
    layers: list[nn.Module] = [] if outermost else [nn.LeakyReLU(0.2)]
    layers.append(nn.Conv2d(in_channels, width, 4, 2, 1, bias=uses_bias(norm)))
    if not (outermost or innermost):
        layers.append(norm_layer(norm, width))
    return layers


def up_path(in_channels: int, out_channels: int, norm: NormKind | str, dropout: float, outermost: bool) -> list[nn.Module]:
    """ReLU → stride-2 transposed conv → norm (→ dropout); the outermost ends in tanh instead."""
    if outermost:
        return [nn.ReLU(), nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1), nn.Tanh()]
    layers = [nn.ReLU(), nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=uses_bias(norm))]
    layers.append(norm_layer(norm, out_channels))
    if dropout:
        layers.append(nn.Dropout(dropout))
    return layers


class UNetGenerator(nn.Module):
    """image → image of the same size; level i (0 = outermost) is ``ngf * min(2**i, 8)`` wide."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        image_size: int,
        ngf: int = 64,
        norm: NormKind | str = NormKind.batch,
        dropout: float = 0.5,
    ):
        super().__init__()
        depth = unet_depth(image_size)
        widths = [ngf * min(2**level, 8) for level in range(depth)]
        block = None
        for level in reversed(range(1, depth)):
            level_dropout = dropout if level in dropout_levels(depth) else 0.0
            block = SkipBlock(widths[level - 1], widths[level], widths[level - 1], block, norm, level_dropout)
        self.model = SkipBlock(in_channels, widths[0], out_channels, block, norm, outermost=True)
        self.apply(init_normal)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def dropout_modules(self) -> list[nn.Dropout]:
        """The decoder's dropout layers, which pix2pix keeps on at sampling as its only noise."""
        return [module for module in self.modules() if isinstance(module, nn.Dropout)]
