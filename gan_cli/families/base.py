"""What a model family provides to the training loop.

A family owns its networks and describes one training step as phases. The loop runs the phases in
order, freezing every network a phase does not train, so a family with an encoder (AAE), a paired L1
term (pix2pix) or two generators (CycleGAN) adds phases and networks, not a loop of its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
from torch import nn

from gan_cli.config import GanLoss
from gan_cli.device.shard import SINGLE_PROCESS
from gan_cli.errors import UserError
from gan_cli.networks.norm import spectral_normalize
from gan_cli.objectives.losses import AdversarialLoss
from gan_cli.registry import Registry

Batch = dict[str, torch.Tensor]
Scalars = dict[str, torch.Tensor]


THROUGHPUT = "perf/images_per_s"  # logged by the training loop for every family

@dataclass(frozen=True)
class DataInfo:
    """What the model needs to know about the data: shapes and classes, never typed twice."""

    channels: int  # of the images the model reads (the input domain, for translation)
    image_size: int
    num_classes: int = 0  # 0 when the data carries no labels
    fields: tuple[str, ...] = ("image",)  # the keys of a batch
    target_channels: int = 0  # translation data: channels of the target domain (0 for other data)
    paired: bool = False  # translation data: each input has its target (pix2pix); False: unpaired


@dataclass(frozen=True)
class HeldOut:
    """Held-out translation images in [-1, 1]; ``target[i]`` belongs to ``input[i]`` when ``paired``."""

    input: torch.Tensor
    target: torch.Tensor
    paired: bool
    split: str  # which split of the data they came from: "test" or "val"
    input_labels: Optional[torch.Tensor] = None  # the class of each input image, where the data is labeled
    target_labels: Optional[torch.Tensor] = None  # the class of each target image


@dataclass(frozen=True)
class Phase:
    """One part of a training step: a loss that updates some networks with one optimizer."""

    name: str
    optimizer: str
    trains: tuple[str, ...]
    loss: Callable[[Batch], tuple[torch.Tensor, Scalars]]
    repeats: int = 1  # repeats after the first draw a fresh batch (the k D steps per G step)
    scalars: tuple[str, ...] = ()  # the names of the scalars ``loss`` reports, known before training
    records: tuple[str, ...] = ()  # networks not updated here whose graph the next phase reuses (D's fakes, in G's phase)


def gradient_norm_name(phase: Phase) -> str:
    """The scalar holding the norm of the gradient a phase steps with: grad_norm/d, grad_norm/g, ..."""
    return f"grad_norm/{phase.name}"


@dataclass(frozen=True)
class OptimizerSpec:
    """The networks one optimizer updates, and which learning rate (the G's or the D's) it takes."""

    networks: tuple[str, ...]
    role: str  # "g" or "d"


@dataclass
class GridSpec:
    """Fixed inputs for the sample grids, and how many images per row."""

    inputs: dict[str, torch.Tensor]
    nrow: int
    labels: Optional[torch.Tensor] = field(default=None)


class Family(ABC):
    """A GAN family: its networks, optimizers, training phases and how it generates images."""

    # The batch keys the family trains on, and what to tell a user whose data lacks them.
    needs_fields: tuple[str, ...] = ("image",)
    trains_on_pairs = True  # translation data: draw aligned pairs (False: the two domains independently)
    data_hint = "it trains on a set of images; use data=mnist, data=fashion_mnist or data=image_folder"
    critic_norm_fix = "model.d_norm=none or model.d_norm=layer"  # how a family's D drops BatchNorm
    critic_sees_images = True  # what DiffAugment needs; the AAE's D sees latent codes

    def __init__(self, model_cfg, data: DataInfo, loss_cfg, d_steps: int):
        self.model_cfg = model_cfg
        self.data = data
        self.loss_cfg = loss_cfg
        self.adversarial = AdversarialLoss.from_config(loss_cfg)
        self.d_steps = d_steps
        self.handed_on: dict[str, tuple] = {}  # see hand_on
        self.shard = SINGLE_PROCESS  # data-parallel training sets this process's share of each batch
        self.check_data(model_cfg.name, data)
        self.networks = nn.ModuleDict(self.build_networks())
        self.check_loss(model_cfg.name)
        if model_cfg.get("spectral_norm"):
            for name in self.critic_names():
                spectral_normalize(self.networks[name])

    def draw_rows(self, draw: Callable[[int], torch.Tensor], n: int) -> torch.Tensor:
        """``n`` rows of a random draw for this process's shard of a batch: under data-parallel
        training every rank draws the whole batch's rows and keeps its slice, the very numbers one
        process would use."""
        if not self.shard.distributed:
            return draw(n)
        return self.shard.part(draw(n * self.shard.world_size))

    def hand_on(self, name: str, output: torch.Tensor, *inputs: torch.Tensor) -> torch.Tensor:
        """Keep a generator's output for the next phase to ``take``, and the inputs it was made from;
        returns it detached, for this phase. When the output carries G's graph (the phase ``records``
        G), the next phase backpropagates through it: one G forward per step, as in the canonical
        loop. When it does not (data-parallel phases each run their own forward), the next phase
        makes it again from the same inputs."""
        self.handed_on[name] = (output if output.requires_grad else None, inputs)
        return output.detach()

    def take(self, name: str, make: Callable[..., torch.Tensor], fresh: Callable[[], tuple[torch.Tensor, ...]]) -> torch.Tensor:
        """The output the previous phase handed on, else ``make`` applied to its inputs, else to ``fresh()``."""
        output, inputs = self.handed_on.pop(name, (None, None))
        if output is not None:
            return output
        return make(*(inputs if inputs is not None else fresh()))

    def critic_names(self) -> list[str]:
        """The networks D's optimizer trains: the ones the stabilizers of D act on."""
        return self.role_networks("d")

    def generator_names(self) -> list[str]:
        """The networks G's optimizers train (with the AAE's encoder): the ones generator EMA averages."""
        return self.role_networks("g")

    def role_networks(self, role: str) -> list[str]:
        names = [name for spec in self.optimizers().values() if spec.role == role for name in spec.networks]
        return list(dict.fromkeys(names))

    def check_loss(self, model: str) -> None:
        """The gradient penalty is per image; BatchNorm in D ties each image's score to the batch."""
        if self.adversarial.kind is not GanLoss.wgan_gp:
            return
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for name in self.critic_names() for m in self.networks[name].modules()):
            raise UserError(
                f"loss=wgan_gp needs a D without BatchNorm (its gradient penalty is per image, and BatchNorm mixes "
                f"the batch); model={model} has it: set {self.critic_norm_fix}"
            )

    @classmethod
    def check_data(cls, model: str, data: DataInfo) -> None:
        """Refuse data the family cannot train on, before any network is built."""
        if not set(cls.needs_fields) <= set(data.fields):
            raise UserError(f"model={model} cannot train on this data: {cls.data_hint}")

    @abstractmethod
    def build_networks(self) -> dict[str, nn.Module]:
        """The family's networks by name, e.g. {"G": ..., "D": ...}."""

    @abstractmethod
    def optimizers(self) -> dict[str, OptimizerSpec]:
        """Optimizer name → the networks it updates."""

    @abstractmethod
    def phases(self) -> list[Phase]:
        """The phases of one training step, in order."""

    @abstractmethod
    def grid_inputs(self, num_samples: int, generator: torch.Generator, heldout: Optional[HeldOut] = None) -> GridSpec:
        """Inputs for a sample grid, drawn with ``generator`` (or taken from the held-out images) so
        they are the same every time."""

    @abstractmethod
    def generate(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Images in [-1, 1] from inputs like those of ``grid_inputs``."""

    def grid_images(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The images of a sample grid, in grid order; translation families add inputs and targets."""
        return self.generate(inputs)

    def evaluate(self, heldout: HeldOut, batch_size: int) -> dict[str, float]:
        """Figures measured on held-out data (translation: against the targets); none by default."""
        return {}

    def logged_names(self) -> set[str]:
        """Every scalar a run logs and train.best_metric may follow, known before the first step."""
        phases = self.phases()
        names = {name for phase in phases for name in phase.scalars} | {gradient_norm_name(phase) for phase in phases}
        return names | {THROUGHPUT, *self.evaluation_names()}

    def evaluation_names(self) -> tuple[str, ...]:
        """The names ``evaluate`` reports, known before the first evaluation (for train.best_metric)."""
        return ()

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Training state beyond the networks (R1's step count, CycleGAN's image pools), for exact resume."""
        return {"r1_d_updates": torch.tensor(self.adversarial.r1.d_updates)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore what ``state_dict`` returned."""
        self.adversarial.r1.d_updates = int(state.get("r1_d_updates", 0))

    @property
    def latent_dim(self) -> Optional[int]:
        """Size of the latent vector z, or None for families without one (pix2pix)."""
        return None

    @property
    def device(self) -> torch.device:
        return next(self.networks.parameters()).device


# Each family module registers a builder class and its config schema here.
FAMILIES: Registry[type[Family]] = Registry("model family")
MODEL_SCHEMAS: dict[str, type] = {}


def register_family(name: str, schema: type):
    """Class decorator: make ``name`` usable as ``model.name`` with ``schema`` as its config."""

    def add(family_class: type[Family]) -> type[Family]:
        MODEL_SCHEMAS[name] = schema
        return FAMILIES.register(name)(family_class)

    return add
