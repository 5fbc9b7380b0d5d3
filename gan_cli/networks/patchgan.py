"""The PatchGAN discriminator of pix2pix and CycleGAN: a fully convolutional net that scores each
overlapping patch of the image as real or fake, so D judges local texture and L1 handles the rest."""

from __future__ import annotations

import torch
from torch import nn

from gan_cli.errors import UserError
from gan_cli.networks.norm import NormKind, init_normal, norm_layer, uses_bias

KERNEL = 4
PADDING = 1
MAX_LAYERS = 5
MAX_AUTO_LAYERS = 3  # the paper's 70x70 patches; deeper only when asked for


def layer_strides(n_layers: int) -> list[int]:
    """Strides of the convolutions, input to output: ``n_layers`` halvings, then two stride-1 convs."""
    return [2] * n_layers + [1, 1]


def receptive_field(n_layers: int) -> int:
    """Side of the input patch that one output logit sees."""
    field = 1
    for stride in reversed(layer_strides(n_layers)):
        field = (field - 1) * stride + KERNEL
    return field


def output_size(n_layers: int, image_size: int) -> int:
    """Side of the patch-logit map for a square image."""
    size = image_size
    for stride in layer_strides(n_layers):
        size = (size + 2 * PADDING - KERNEL) // stride + 1
    return size


def patch_layers_for(image_size: int) -> int:
    """The most layers (up to the paper's 3) whose receptive field fits in the image; at least 1."""
    fitting = [n for n in range(1, MAX_AUTO_LAYERS + 1) if receptive_field(n) <= image_size]
    return max(fitting, default=1)


def check_patch_layers(n_layers: int, image_size: int) -> None:
    """Raise a UserError unless ``n_layers`` is 1..5 and leaves at least a 1x1 logit map."""
    valid = [n for n in range(1, MAX_LAYERS + 1) if output_size(n, image_size) >= 1]
    if n_layers in valid:
        return
    if not valid:
        raise UserError(f"model.d_layers={n_layers}: model.image_size={image_size} is too small for a PatchGAN")
    raise UserError(
        f"model.d_layers={n_layers} does not fit {image_size} px images; use 1 to {valid[-1]} (or 0 for automatic)"
    )


class PatchDiscriminator(nn.Module):
    """image → [N, 1, H', W'] logits, one per patch (no sigmoid: the loss applies it)."""

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: NormKind | str = NormKind.batch):
        super().__init__()
        bias = uses_bias(norm)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, KERNEL, 2, PADDING), nn.LeakyReLU(0.2, True)]
        width = ndf
        for n, stride in enumerate(layer_strides(n_layers)[1:-1], start=1):
            next_width = ndf * min(2**n, 8)
            layers += [
                nn.Conv2d(width, next_width, KERNEL, stride, PADDING, bias=bias),
                norm_layer(norm, next_width),
                nn.LeakyReLU(0.2, True),
            ]
            width = next_width
        layers.append(nn.Conv2d(width, 1, KERNEL, 1, PADDING))
        self.model = nn.Sequential(*layers)
        self.apply(init_normal)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)
