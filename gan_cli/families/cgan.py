"""Conditional GAN (Mirza & Osindero, 2014): G and D both see the class label.

How the label goes in (one-hot everywhere, no learned embedding):

* G gets ``[z, one_hot(y)]``. For ``arch=conv`` that vector feeds DCGAN's ConvGenerator (its first
  transposed convolution acts on a 1x1 map, so this is the same as a learned per-class embedding added
  to the 4x4 seed); for ``arch=mlp`` it feeds the vanilla GAN's MLP generator.
* D gets the label as well. For ``arch=conv`` the one-hot vector is broadcast to C constant planes and
  concatenated to the image channels, so DCGAN's ConvDiscriminator sees ``channels + C`` input planes;
  for ``arch=mlp`` the one-hot vector is concatenated to the flattened image.

Fakes in D's phase take the real batch's labels, so D sees the same class mix on both sides; G's phase
uses the batch's labels too. The fixed sample grid has one row per class: column j uses the same z in
every row, so a column shows one "style" drawn as each class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from gan_cli.config import ModelConfig
from gan_cli.errors import UserError
from gan_cli.families.base import Batch, GridSpec, HeldOut, register_family
from gan_cli.families.noise_to_image import NoiseToImageFamily
from gan_cli.networks.dcgan import ConvDiscriminator, ConvGenerator, DNorm
from gan_cli.networks.mlp import Arch, MLPGenerator, mlp
from gan_cli.ranges import ranged


@dataclass
class CGanConfig(ModelConfig):
    name: str = "cgan"
    arch: Arch = Arch.conv  # conv: DCGAN networks (image_size a power of two >= 16); mlp: vanilla GAN MLPs
    image_size: int = 32
    nz: int = ranged(64, low=1, high=4096)  # latent size: the "style"; the label carries the class
    ngf: int = ranged(32, low=1, high=1024)  # conv: G's width at its last hidden layer
    ndf: int = ranged(32, low=1, high=1024)  # conv: D's width at its first layer
    d_norm: DNorm = DNorm.batch  # conv: D's normalisation: batch, layer or none (for loss=wgan_gp)
    g_hidden: list[int] = ranged(default_factory=lambda: [256, 512, 1024], low=1, high=16384, max_items=8)  # mlp: G's hidden layers
    d_hidden: list[int] = ranged(default_factory=lambda: [512, 256], low=1, high=16384, max_items=8)  # mlp: D's hidden layers
    d_dropout: float = ranged(0.3, low=0, high=1, high_open=True)  # mlp: dropout in D


def one_hot(labels: torch.Tensor, num_classes: int, like: torch.Tensor) -> torch.Tensor:
    """Labels as one-hot rows in ``like``'s dtype and device."""
    return F.one_hot(labels.long(), num_classes).to(dtype=like.dtype, device=like.device)


class ConditionalGenerator(nn.Module):
    """Any z → image generator fed ``[z, one_hot(y)]`` instead of z."""

    def __init__(self, body: nn.Module, num_classes: int):
        super().__init__()
        self.body = body
        self.num_classes = num_classes

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([z, one_hot(labels, self.num_classes, z)], dim=1))


class LabelMapDiscriminator(nn.Module):
    """DCGAN's D on the image stacked with C constant planes, plane y set to 1 for label y."""

    def __init__(self, ndf: int, channels: int, image_size: int, num_classes: int, norm: DNorm | str = DNorm.batch):
        super().__init__()
        self.num_classes = num_classes
        self.body = ConvDiscriminator(ndf, channels + num_classes, image_size, norm)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        planes = one_hot(labels, self.num_classes, images)[:, :, None, None]
        planes = planes.expand(-1, -1, *images.shape[-2:])
        return self.body(torch.cat([images, planes], dim=1))


class ConditionalMLPDiscriminator(nn.Module):
    """The vanilla GAN's MLP D on ``[flattened image, one_hot(y)]``."""

    def __init__(self, hidden: list[int], channels: int, image_size: int, num_classes: int, dropout: float):
        super().__init__()
        self.num_classes = num_classes
        in_features = channels * image_size * image_size + num_classes
        self.net = nn.Sequential(*mlp([in_features, *hidden], nn.LeakyReLU(0.2), dropout), nn.Linear(hidden[-1], 1))

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        flat = images.flatten(1)
        return self.net(torch.cat([flat, one_hot(labels, self.num_classes, flat)], dim=1)).squeeze(1)


def class_rows(num_classes: int, per_class: int, z_per_column: torch.Tensor) -> dict[str, torch.Tensor]:
    """Inputs for a grid with one row per class; column j reuses z_per_column[j] in every row."""
    return {
        "z": z_per_column.repeat(num_classes, 1),
        "label": torch.arange(num_classes, device=z_per_column.device).repeat_interleave(per_class),
    }


@register_family("cgan", CGanConfig)
class ConditionalGAN(NoiseToImageFamily):
    """G(z, y) and D(x, y), trained with the same alternating D and G phases as the unconditional GANs."""

    def build_networks(self) -> dict[str, nn.Module]:
        cfg, data = self.model_cfg, self.data
        classes = data.num_classes
        if classes < 2:
            raise UserError(
                f"model=cgan needs labeled data, but this dataset has {classes} classes; use data=mnist "
                "(or data=fashion_mnist), or give data=image_folder class subfolders (data.path/<class>/*.png)"
            )
        if Arch(cfg.arch) is Arch.conv:
            generator = ConvGenerator(cfg.nz, cfg.ngf, data.channels, data.image_size, in_features=cfg.nz + classes)
            discriminator = LabelMapDiscriminator(cfg.ndf, data.channels, data.image_size, classes, cfg.d_norm)
        else:
            generator = MLPGenerator(cfg.nz + classes, list(cfg.g_hidden), data.channels, data.image_size)
            discriminator = ConditionalMLPDiscriminator(
                list(cfg.d_hidden), data.channels, data.image_size, classes, cfg.d_dropout
            )
        return {"G": ConditionalGenerator(generator, classes), "D": discriminator}

    @property
    def label_classes(self) -> int:
        """How many labels G takes; gan-sample's ``label=`` picks one of them."""
        return self.data.num_classes

    def discriminator_phase(self, batch: Batch):
        real, labels = batch["image"], batch["label"]
        z = self.sample_latent(real.shape[0])
        fake = self.hand_on("fake", self.networks["G"](z, labels), z, labels)
        return self.adversarial.discriminator_step(lambda images: self.networks["D"](images, labels), real, fake)

    def generator_phase(self, batch: Batch):
        labels = batch["label"]  # the last D step's batch, whose labels its fakes were drawn for
        fake = self.take("fake", self.networks["G"], lambda: (self.sample_latent(labels.shape[0]), labels))
        loss = self.adversarial.generator(self.networks["D"](fake, labels))
        return loss, {"loss/g": loss.detach()}

    def grid_inputs(self, num_samples: int, generator: torch.Generator, heldout: Optional[HeldOut] = None) -> GridSpec:
        """One row per class, ceil(num_samples / classes) images per row, one fixed z per column."""
        classes = self.label_classes
        per_class = max(1, math.ceil(num_samples / classes))
        z = torch.randn(per_class, self.latent_dim, generator=generator).to(self.device)
        inputs = class_rows(classes, per_class, z)
        return GridSpec(inputs, nrow=per_class, labels=inputs["label"])

    def generate(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.networks["G"](inputs["z"], inputs["label"])
