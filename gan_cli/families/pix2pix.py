"""pix2pix (Isola et al., 2017): paired image-to-image translation with a conditional GAN.

G is a U-Net whose depth follows the image size. The paper's G keeps dropout in its decoder on at
sampling, as its only noise (``model.dropout=0.5``); measured on the offline tasks, that noise costs
sharpness and class accuracy, so the default has none and G is deterministic. D is a conditional PatchGAN: it scores (input, output) pairs, patch by
patch. G minimises the adversarial loss plus λ·L1 to the target (λ = 100); D's loss is halved, which
slows D relative to G. ``model.gan_weight=0`` trains the L1-only U-Net, the paper's ablation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gan_cli.config import ModelConfig
from gan_cli.errors import UserError
from gan_cli.families.base import Batch, DataInfo, OptimizerSpec, Phase, register_family
from gan_cli.families.translation import TranslationFamily, dropout_on
from gan_cli.networks.norm import NormKind
from gan_cli.networks.patchgan import PatchDiscriminator, check_patch_layers, patch_layers_for
from gan_cli.networks.unet import UNetGenerator
from gan_cli.ranges import ranged


@dataclass
class Pix2PixConfig(ModelConfig):
    name: str = "pix2pix"
    image_size: int = 32  # a power of two from 16 to 512; 28-px data (Fashion-MNIST) is padded to 32
    ngf: int = ranged(64, low=1, high=1024)  # U-Net width at its outermost block; doubles inward, up to 8x
    ndf: int = ranged(64, low=1, high=1024)  # PatchGAN width at its first layer
    norm: NormKind = NormKind.batch  # batch (the paper) or instance
    dropout: float = ranged(0.0, low=0, high=1, high_open=True)  # in the decoder blocks nearest the bottleneck, on at sampling too (the paper: 0.5)
    d_layers: int = ranged(0, low=1, high=5, zero_means="automatic")  # PatchGAN stride-2 layers; 0: the most whose receptive field fits the image
    l1_weight: float = ranged(100.0, low=0, high=1e4)  # λ: weight of the L1 distance to the target
    gan_weight: float = ranged(1.0, low=0, high=1e4)  # weight of the adversarial term; 0 trains the L1-only U-Net (no D)


@register_family("pix2pix", Pix2PixConfig)
class Pix2Pix(TranslationFamily):
    data_hint = "it needs paired images; use data=fashion_edges, data=mnist_edges or data=paired_folder (model=cyclegan takes unpaired data)"
    critic_norm_fix = "model.norm=instance"

    @classmethod
    def check_data(cls, model: str, data: DataInfo) -> None:
        super().check_data(model, data)
        if not data.paired:
            raise UserError(f"model={model} cannot train on this data: {cls.data_hint}")

    def build_networks(self) -> dict[str, nn.Module]:
        cfg, data = self.model_cfg, self.data
        d_layers = cfg.d_layers or patch_layers_for(data.image_size)
        check_patch_layers(d_layers, data.image_size)
        return {
            "G": UNetGenerator(data.channels, self.target_channels, data.image_size, cfg.ngf, cfg.norm, cfg.dropout),
            "D": PatchDiscriminator(data.channels + self.target_channels, cfg.ndf, d_layers, cfg.norm),
        }

    def optimizers(self) -> dict[str, OptimizerSpec]:
        return {"g": OptimizerSpec(("G",), role="g"), "d": OptimizerSpec(("D",), role="d")}

    @property
    def adversarial_on(self) -> bool:
        return self.model_cfg.gan_weight > 0

    def phases(self) -> list[Phase]:
        if not self.adversarial_on:
            return [Phase("g", "g", ("G",), self.generator_phase, scalars=("loss/g", "loss/l1"))]
        return [
            Phase("d", "d", ("D",), self.discriminator_phase, repeats=self.d_steps, scalars=self.adversarial.d_scalars, records=("G",)),
            Phase("g", "g", ("G",), self.generator_phase, scalars=("loss/g", "loss/l1", "loss/g_gan")),
        ]

    def judge(self, source: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """D's patch map for an (input, output) pair: conditional, so D sees what G was given."""
        return self.networks["D"](torch.cat([source, output], dim=1))

    def discriminator_phase(self, batch: Batch):
        source, target = batch["input"], batch["target"]
        fake = self.hand_on("fake", self.networks["G"](source), source)
        # Halved, as in the reference, to slow D against G.
        loss, scalars = self.adversarial.discriminator_step(lambda output: self.judge(source, output), target, fake)
        return 0.5 * loss, scalars | {"loss/d": 0.5 * scalars["loss/d"]}

    def generator_phase(self, batch: Batch):
        source, target = batch["input"], batch["target"]
        fake = self.take("fake", self.networks["G"], lambda: (source,))  # the last D step's, as in the reference
        l1 = F.l1_loss(fake, target)
        loss = self.model_cfg.l1_weight * l1
        scalars = {"loss/l1": l1.detach()}
        if self.adversarial_on:
            adversarial = self.adversarial.generator(self.judge(source, fake))
            loss = loss + self.model_cfg.gan_weight * adversarial
            scalars["loss/g_gan"] = adversarial.detach()
        return loss, {"loss/g": loss.detach(), **scalars}

    def translate(self, images: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        if reverse:
            raise ValueError("pix2pix translates in its trained direction only")
        with dropout_on(self.networks["G"]):
            return self.networks["G"](images)
