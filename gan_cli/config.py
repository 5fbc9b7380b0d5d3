"""Typed schemas behind the YAML groups, so a typo or a wrong type fails when the config is composed.

Each model family keeps its own schema in its module (see ``gan_cli.families``); this file holds the
groups every run shares and registers all schemas with Hydra's ConfigStore.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from gan_cli.errors import UserError


class GanLoss(str, Enum):
    """The adversarial loss: how D is trained and how G is scored against D's verdict."""

    non_saturating = "non_saturating"  # cross-entropy; G maximises log D(G(z)): strong gradients early on
    saturating = "saturating"  # cross-entropy; G minimises log(1 - D(G(z))): the original minimax
    lsgan = "lsgan"  # least squares (Mao et al., 2017): smooth gradients; CycleGAN's default


class Precision(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"  # autocast; fast on CPUs with AMX and on Ampere+ GPUs
    fp16 = "fp16"  # autocast with a gradient scaler; CUDA only


class LrSchedule(str, Enum):
    constant = "constant"  # the configured rate throughout
    linear_decay = "linear_decay"  # constant until decay_start, then linearly to zero (CycleGAN, pix2pix)


class Direction(str, Enum):
    """Which side of a translation dataset is the input."""

    AtoB = "AtoB"
    BtoA = "BtoA"


class NanPolicy(str, Enum):
    stop = "stop"  # keep the last good checkpoint and exit non-zero
    skip = "skip"  # drop the step's updates and count it


@dataclass
class DataConfig:
    name: str = MISSING  # dataset registry key
    root: str = "${oc.env:GAN_CLI_DATA,\"~/.cache/gan-cli\"}"  # where datasets live; env GAN_CLI_DATA overrides
    download: bool = True  # try torchvision's download before the offline copy
    path: Optional[str] = None  # image_folder: the folder of images (class subfolders give labels)
    channels: int = 3  # image_folder: 1 (grayscale) or 3 (RGB); MNIST ignores it
    split: str = "train"  # train or test, for datasets that have both
    limit: int = 0  # use only the first N images (0 = all); handy for quick tries


@dataclass
class TranslationDataConfig(DataConfig):
    """Image-to-image data: two domains, A and B, paired or not, with a held-out split."""

    direction: Direction = Direction.AtoB  # AtoB: A is the input and B the target; BtoA swaps them
    jitter: bool = True  # training only: resize to 286/256 of the size, random-crop back (the reference's jitter)
    flip: bool = True  # training only: random horizontal flip, the same for both sides of a pair


@dataclass
class OptimizerConfig:
    name: str = "adam"  # the optimizer; Adam is the only one
    lr_g: float = 2e-4  # G's learning rate (and the encoder's, for the AAE)
    lr_d: float = 2e-4  # D's learning rate; a different one from lr_g is the two time-scale rule (TTUR)
    beta1: float = 0.5  # Adam's first-moment decay; 0.5 (DCGAN, pix2pix, CycleGAN) damps oscillation
    beta2: float = 0.999  # Adam's second-moment decay
    lr: Optional[float] = None  # one knob for sweeps: when set, it replaces both lr_g and lr_d
    schedule: LrSchedule = LrSchedule.constant  # linear_decay: constant, then linearly down to zero
    decay_start: float = 0.5  # linear_decay: the fraction of train.steps after which the rate falls


@dataclass
class DeviceConfig:
    type: str = "auto"  # auto (CUDA if present, else CPU), cpu or cuda
    precision: Precision = Precision.fp32  # fp32, bf16 (autocast) or fp16 (autocast + gradient scaler, CUDA)
    threads: int = 0  # CPU threads for torch; 0 keeps torch's default (one per core)
    channels_last: bool = True  # NHWC memory layout; faster convolutions on CPU and tensor cores


@dataclass
class LossConfig:
    name: GanLoss = GanLoss.non_saturating  # non_saturating, saturating or lsgan
    real_label: float = 1.0  # the target for real images in D's loss; 0.9 is one-sided label smoothing


@dataclass
class TrainConfig:
    steps: int = 2000  # G updates; ignored when epochs is set
    epochs: Optional[int] = None  # passes over the data, converted to steps
    batch_size: int = 128
    d_steps: int = 1  # k: D updates per G update, each on a fresh batch
    seed: int = 0
    log_every: int = 50  # scalars to TensorBoard and the progress bar
    sample_every: int = 250  # sample grid from the fixed latents
    checkpoint_every: int = 500  # step_XXXXXXX.pt beside last.pt
    keep_last: int = 0  # keep only the newest K periodic checkpoints (0 keeps all)
    best_metric: Optional[str] = None  # a logged scalar to minimise, e.g. loss/recon; keeps best.pt
    num_samples: int = 64  # images in each sample grid
    nan_policy: NanPolicy = NanPolicy.stop
    deterministic: bool = False  # deterministic kernels, for bit-exact resume checks


@dataclass
class EvalConfig:
    every: int = 500  # score on the held-out split every N steps, and at the end (0: at the end only)
    num_samples: int = 1000  # held-out images scored: the first N of the split (0: all)
    batch_size: int = 256  # images translated at once while scoring


@dataclass
class ModelConfig:
    """Fields every family has; each family's schema extends it."""

    name: str = MISSING  # model family registry key
    image_size: int = 32


@dataclass
class Config:
    model: Any = MISSING
    data: DataConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    device: DeviceConfig = MISSING
    loss: LossConfig = MISSING
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    resume: Optional[str] = None  # a checkpoint, a run directory, or "auto"


def register_configs(model_schemas: dict[str, type]) -> None:
    """Store every schema in Hydra's ConfigStore; the YAML files extend them by name."""
    store = ConfigStore.instance()
    store.store(name="config_schema", node=Config)
    store.store(group="data", name="data_schema", node=DataConfig)
    store.store(group="data", name="translation_data_schema", node=TranslationDataConfig)
    store.store(group="optimizer", name="optimizer_schema", node=OptimizerConfig)
    store.store(group="device", name="device_schema", node=DeviceConfig)
    store.store(group="loss", name="loss_schema", node=LossConfig)
    for name, schema in model_schemas.items():
        store.store(group="model", name=f"{name}_schema", node=schema)


def check_config(cfg) -> None:
    """Range checks that a type alone cannot express; each failure names the key and a valid value."""
    train, optimizer = cfg.train, cfg.optimizer
    positive = {
        "eval.batch_size": cfg.eval.batch_size,
        "train.batch_size": train.batch_size,
        "train.d_steps": train.d_steps,
        "train.log_every": train.log_every,
        "train.sample_every": train.sample_every,
        "train.checkpoint_every": train.checkpoint_every,
        "train.num_samples": train.num_samples,
        "optimizer.lr_g": optimizer.lr_g,
        "optimizer.lr_d": optimizer.lr_d,
        "model.image_size": cfg.model.image_size,
    }
    if train.epochs is None:
        positive["train.steps"] = train.steps
    else:
        positive["train.epochs"] = train.epochs
    if optimizer.lr is not None:
        positive["optimizer.lr"] = optimizer.lr
    for key, value in positive.items():
        if value <= 0:
            raise UserError(f"{key}={value} must be positive; e.g. {key}={default_example(key)}")
    for key in ("beta1", "beta2"):
        if not 0 <= optimizer[key] < 1:
            raise UserError(f"optimizer.{key}={optimizer[key]} must be in [0, 1); the DCGAN default is 0.5/0.999")
    if not 0 <= optimizer.decay_start < 1:
        raise UserError(f"optimizer.decay_start={optimizer.decay_start} must be in [0, 1); e.g. 0.5 decays over the second half")
    if cfg.eval.every < 0:
        raise UserError(f"eval.every={cfg.eval.every} must be 0 (at the end only) or a positive step interval")
    if cfg.eval.num_samples < 0:
        raise UserError(f"eval.num_samples={cfg.eval.num_samples} must be 0 (the whole split) or a positive count")
    if train.keep_last < 0:
        raise UserError(f"train.keep_last={train.keep_last} must be 0 (keep all) or a positive count")


def default_example(key: str) -> str:
    examples = {"optimizer": "2e-4", "model.image_size": "32", "train.batch_size": "128", "train.steps": "2000"}
    return next((value for prefix, value in examples.items() if key.startswith(prefix)), "1")


def learning_rates(optimizer_cfg, step: int = 0, total_steps: int = 1) -> dict[str, float]:
    """The rate for each optimizer role during step ``step + 1``; optimizer.lr, when set, is both."""
    factor = schedule_factor(optimizer_cfg, step, total_steps)
    if optimizer_cfg.lr is not None:
        return {"g": optimizer_cfg.lr * factor, "d": optimizer_cfg.lr * factor}
    return {"g": optimizer_cfg.lr_g * factor, "d": optimizer_cfg.lr_d * factor}


def schedule_factor(optimizer_cfg, step: int, total_steps: int) -> float:
    """The schedule's multiplier for the configured rates; it depends on the step alone, so a resumed
    run continues the schedule exactly."""
    if LrSchedule(optimizer_cfg.schedule) is LrSchedule.constant:
        return 1.0
    decay_from = int(optimizer_cfg.decay_start * total_steps)
    if step < decay_from:
        return 1.0
    return max(0.0, 1.0 - (step - decay_from) / max(1, total_steps - decay_from))
