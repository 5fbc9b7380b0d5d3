"""CycleGAN (Zhu et al., 2017): unpaired translation with two generators that undo each other.

Networks: G maps the input domain to the target domain and F maps back; D_target judges target-domain
images (real ones against G's) and D_input judges input-domain images (real ones against F's). G and F
minimise the adversarial loss (least squares by default, as the paper) plus λ·(|F(G(a)) - a| +
|G(F(b)) - b|), the cycle loss, with λ = 10, plus 0.5·λ·(|G(b) - b| + |F(a) - a|), the identity loss,
which keeps colours when nothing needs to change. Each D sees fakes through a pool of the last 50, and
its loss is halved.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch
from torch import nn
from torch.nn.functional import l1_loss as l1

from gan_cli.config import ModelConfig
from gan_cli.errors import UserError
from gan_cli.families.base import Batch, OptimizerSpec, Phase, register_family
from gan_cli.families.translation import TranslationFamily
from gan_cli.networks.norm import NormKind
from gan_cli.networks.patchgan import PatchDiscriminator, check_patch_layers, patch_layers_for
from gan_cli.networks.resnet import ResnetGenerator, check_resnet_size, resnet_blocks_for
from gan_cli.networks.unet import UNetGenerator
from gan_cli.objectives.image_pool import ImagePool
from gan_cli.ranges import ranged


class GeneratorArch(str, Enum):
    resnet = "resnet"  # the paper's: downsample twice, residual blocks, upsample twice
    unet = "unet"  # pix2pix's U-Net, without dropout


@dataclass
class CycleGanConfig(ModelConfig):
    name: str = "cyclegan"
    image_size: int = 32  # resnet: a multiple of 4, at least 16; unet: a power of two from 16 to 512
    generator: GeneratorArch = GeneratorArch.resnet  # resnet (the paper's) or unet (pix2pix's U-Net, no dropout)
    ngf: int = ranged(64, low=1, high=1024)  # generator width at full resolution
    ndf: int = ranged(64, low=1, high=1024)  # PatchGAN width at its first layer
    norm: NormKind = NormKind.instance  # instance (the paper's) or batch
    n_blocks: int = ranged(0, low=1, high=64, zero_means="automatic")  # resnet blocks; 0: 6 below 256 px, 9 at 256 px and above (the paper's rule)
    d_layers: int = ranged(0, low=1, high=5, zero_means="automatic")  # PatchGAN stride-2 layers; 0: the most whose receptive field fits the image
    cycle_weight: float = ranged(10.0, low=0, high=1e4)  # λ, for both directions
    identity_weight: float = ranged(0.5, low=0, high=100)  # identity loss weight as a fraction of λ; 0 turns it off
    pool_size: int = ranged(50, low=1, high=10**5, zero_means="no pool")  # past fakes each D draws from; 0: no pool


@register_family("cyclegan", CycleGanConfig)
class CycleGAN(TranslationFamily):
    trains_on_pairs = False  # paired data is used as two unpaired domains
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pools = {name: ImagePool(self.model_cfg.pool_size) for name in ("input", "target")}

    def build_networks(self) -> dict[str, nn.Module]:
        cfg, data = self.model_cfg, self.data
        if cfg.identity_weight > 0 and data.channels != self.target_channels:
            raise UserError(
                f"the identity loss needs domains with the same channels, but the input has {data.channels} and the "
                f"target {self.target_channels}; set model.identity_weight=0"
            )
        d_layers = cfg.d_layers or patch_layers_for(data.image_size)
        check_patch_layers(d_layers, data.image_size)
        return {
            "G": self.build_generator(data.channels, self.target_channels),
            "F": self.build_generator(self.target_channels, data.channels),
            "D_target": PatchDiscriminator(self.target_channels, cfg.ndf, d_layers, cfg.norm),
            "D_input": PatchDiscriminator(data.channels, cfg.ndf, d_layers, cfg.norm),
        }

    def build_generator(self, in_channels: int, out_channels: int) -> nn.Module:
        cfg, size = self.model_cfg, self.data.image_size
        if GeneratorArch(cfg.generator) is GeneratorArch.unet:
            return UNetGenerator(in_channels, out_channels, size, cfg.ngf, cfg.norm, dropout=0.0)
        check_resnet_size(size)
        return ResnetGenerator(in_channels, out_channels, cfg.ngf, cfg.n_blocks or resnet_blocks_for(size), cfg.norm)

    def optimizers(self) -> dict[str, OptimizerSpec]:
        return {"g": OptimizerSpec(("G", "F"), role="g"), "d": OptimizerSpec(("D_target", "D_input"), role="d")}

    def phases(self) -> list[Phase]:
        return [
            Phase(
                "d", "d", ("D_target", "D_input"), self.discriminator_phase, repeats=self.d_steps,
                scalars=self.adversarial.d_scalars, records=("G", "F"),
            ),
            Phase("g", "g", ("G", "F"), self.generator_phase, scalars=self.generator_scalars()),
        ]

    def generator_scalars(self) -> tuple[str, ...]:
        identity = ("loss/identity",) if self.model_cfg.identity_weight > 0 else ()
        return ("loss/g", "loss/g_gan", "loss/cycle", *identity)

    def discriminator_phase(self, batch: Batch):
        real_input, real_target = batch["input"], batch["target"]
        fake_target = self.pools["target"].query(self.hand_on("fake_target", self.networks["G"](real_input), real_input))
        fake_input = self.pools["input"].query(self.hand_on("fake_input", self.networks["F"](real_target), real_target))
        target_loss, scalars = self.adversarial.discriminator_step(self.networks["D_target"], real_target, fake_target)
        input_loss, input_scalars = self.adversarial.discriminator_step(self.networks["D_input"], real_input, fake_input)
        # D(x) and D(G(z)) as the target domain's D sees them: the direction being learnt; losses averaged.
        averaged = {name: 0.5 * (scalars[name] + input_scalars[name]) for name in scalars if name.startswith("loss/")}
        return 0.5 * (target_loss + input_loss), scalars | averaged

    def generator_phase(self, batch: Batch):
        cfg, nets = self.model_cfg, self.networks
        real_input, real_target = batch["input"], batch["target"]
        fake_target = self.take("fake_target", nets["G"], lambda: (real_input,))  # the last D step's
        fake_input = self.take("fake_input", nets["F"], lambda: (real_target,))
        adversarial = self.adversarial.generator(nets["D_target"](fake_target)) + self.adversarial.generator(
            nets["D_input"](fake_input)
        )
        cycle = l1(nets["F"](fake_target), real_input) + l1(nets["G"](fake_input), real_target)
        loss = adversarial + cfg.cycle_weight * cycle
        scalars = {"loss/g_gan": adversarial.detach(), "loss/cycle": cycle.detach()}
        if cfg.identity_weight > 0:
            identity = l1(nets["G"](real_target), real_target) + l1(nets["F"](real_input), real_input)
            loss = loss + cfg.cycle_weight * cfg.identity_weight * identity
            scalars["loss/identity"] = identity.detach()
        return loss, {"loss/g": loss.detach(), **scalars}

    def translate(self, images: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        return self.networks["F" if reverse else "G"](images)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        return self.networks["F"](self.networks["G"](images))

    @property
    def has_cycle(self) -> bool:
        return True

    def state_dict(self) -> dict[str, torch.Tensor]:
        return super().state_dict() | {f"pool_{name}": pool.state_dict()["images"] for name, pool in self.pools.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        super().load_state_dict(state)
        for name, pool in self.pools.items():
            pool.load_state_dict({"images": state[f"pool_{name}"]}, self.device)
