"""The normalisation choice and weight initialisation that the translation networks share, and
spectral normalisation for any D."""

from __future__ import annotations

from enum import Enum

from torch import nn
from torch.nn.utils import parametrizations


class NormKind(str, Enum):
    """Feature normalisation: pix2pix uses batch norm, CycleGAN instance norm."""

    batch = "batch"
    instance = "instance"


def norm_layer(kind: NormKind | str, channels: int) -> nn.Module:
    """A normalisation layer over ``channels`` feature maps."""
    if NormKind(kind) is NormKind.batch:
        return nn.BatchNorm2d(channels)
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


def uses_bias(kind: NormKind | str) -> bool:
    """Whether a convolution followed by this norm keeps its bias.

    Batch norm has its own learned shift, which makes a bias redundant; this instance norm has none.
    """
    return NormKind(kind) is NormKind.instance


def init_normal(module: nn.Module) -> None:
    """Weights from N(0, 0.02) (N(1, 0.02) for batch-norm scales), biases zero; use ``net.apply``."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def spectral_normalize(network: nn.Module) -> nn.Module:
    """Divide every convolution's and linear layer's weight by its largest singular value (Miyato et
    al., 2018), estimated by one power iteration per forward pass; this bounds D's Lipschitz constant.
    The estimate's vectors are buffers, so checkpoints and exact resume carry them."""
    for module in list(network.modules()):
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            parametrizations.spectral_norm(module)
    return network
