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

from gan_cli.registry import Registry

Batch = dict[str, torch.Tensor]
Scalars = dict[str, torch.Tensor]


@dataclass(frozen=True)
class DataInfo:
    """What the model needs to know about the data: shapes and classes, never typed twice."""

    channels: int
    image_size: int
    num_classes: int = 0  # 0 when the data carries no labels
    fields: tuple[str, ...] = ("image",)


@dataclass(frozen=True)
class Phase:
    """One part of a training step: a loss that updates some networks with one optimizer."""

    name: str
    optimizer: str
    trains: tuple[str, ...]
    loss: Callable[[Batch], tuple[torch.Tensor, Scalars]]
    repeats: int = 1  # repeats after the first draw a fresh batch (the k D steps per G step)


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

    def __init__(self, model_cfg, data: DataInfo, loss_cfg, d_steps: int):
        self.model_cfg = model_cfg
        self.data = data
        self.loss_cfg = loss_cfg
        self.d_steps = d_steps
        self.networks = nn.ModuleDict(self.build_networks())

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
    def grid_inputs(self, num_samples: int, generator: torch.Generator) -> GridSpec:
        """Inputs for a sample grid, drawn with ``generator`` so they are the same every time."""

    @abstractmethod
    def generate(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Images in [-1, 1] from inputs like those of ``grid_inputs``."""

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
