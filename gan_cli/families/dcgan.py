"""DCGAN (Radford et al., 2015): the networks are in ``gan_cli.networks.dcgan``."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from gan_cli.config import ModelConfig
from gan_cli.families.base import register_family
from gan_cli.families.noise_to_image import NoiseToImageFamily
from gan_cli.networks.dcgan import ConvDiscriminator, ConvGenerator, DNorm
from gan_cli.ranges import ranged


@dataclass
class DCGANConfig(ModelConfig):
    name: str = "dcgan"
    image_size: int = 32  # a power of two, 16 or more
    nz: int = ranged(100, low=1, high=4096)  # latent size
    ngf: int = ranged(32, low=1, high=1024)  # G's width at its last hidden layer; doubles towards the input
    ndf: int = ranged(32, low=1, high=1024)  # D's width at its first layer; doubles towards the output
    d_norm: DNorm = DNorm.batch  # D's normalisation: batch (the paper), layer or none (for loss=wgan_gp)


@register_family("dcgan", DCGANConfig)
class DCGAN(NoiseToImageFamily):
    def build_networks(self) -> dict[str, nn.Module]:
        cfg, data = self.model_cfg, self.data
        return {
            "G": ConvGenerator(cfg.nz, cfg.ngf, data.channels, data.image_size),
            "D": ConvDiscriminator(cfg.ndf, data.channels, data.image_size, cfg.d_norm),
        }
