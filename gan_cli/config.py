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
from gan_cli.ranges import check_ranges, ranged

# Sample grids: pixels between images, and the most pixels one grid may hold (below PIL's
# decompression-bomb limit of 89 M, so the GIF step can read every grid back).
GRID_PADDING = 2
MAX_GRID_PIXELS = 64 * 2**20


class GanLoss(str, Enum):
    """The adversarial loss: how D is trained and how G is scored against D's verdict."""

    non_saturating = "non_saturating"  # cross-entropy; G maximises log D(G(z)): strong gradients early on (the default)
    saturating = "saturating"  # cross-entropy; G minimises log(1 - D(G(z))), the original minimax: stalls when D wins early
    lsgan = "lsgan"  # least squares (Mao et al., 2017): smooth gradients for confidently judged fakes; CycleGAN's default
    hinge = "hinge"  # max(0, 1 - D(x)) + max(0, 1 + D(G(z))) for D, -D(G(z)) for G: SAGAN's and BigGAN's choice
    wgan_gp = "wgan_gp"  # Wasserstein critic + gradient penalty (loss.gp_weight): steady when D is strong; 5 D steps, no BatchNorm in D


class Precision(str, Enum):
    auto = "auto"  # measured: bf16 where this CPU runs it faster (AMX, AVX512-BF16), else fp32; on CUDA bf16, or fp16 without it
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


class OptimizerName(str, Enum):
    adam = "adam"


class DeviceType(str, Enum):
    auto = "auto"  # CUDA when a GPU is visible, else the CPU
    cpu = "cpu"
    cuda = "cuda"


class Extractor(str, Enum):
    """The network whose features FID and the other sample-quality metrics compare."""

    auto = "auto"  # classifier when the data has labels, else random_conv
    classifier = "classifier"  # a small classifier trained once on the labeled training images, cached
    random_conv = "random_conv"  # a convolutional network with fixed random weights; for unlabeled folders
    inception = "inception"  # Inception-V3 from eval.inception_weights or torch's hub cache, downloaded there on first use


class NanPolicy(str, Enum):
    stop = "stop"  # keep the last good checkpoint and exit non-zero
    skip = "skip"  # drop the step's updates and count it


@dataclass
class DataConfig:
    name: str = MISSING  # dataset registry key
    root: str = "${oc.env:GAN_CLI_DATA,\"~/.cache/gan-cli\"}"  # where datasets live; env GAN_CLI_DATA overrides
    download: bool = True  # try torchvision's download before the offline copy
    path: Optional[str] = None  # image_folder: the folder of images (class subfolders give labels)
    channels: int = ranged(3, choices=(1, 3))  # image_folder: 1 (grayscale) or 3 (RGB); MNIST ignores it
    split: str = "train"  # train or test, for datasets that have both
    limit: int = ranged(0, low=1, zero_means="all")  # use only the first N images (0 = all); handy for quick tries
    memory_budget: float = ranged(0.0, low=1e-6, high=1e6, zero_means="half the free memory")  # image_folder: GiB the images may take in memory; a larger folder streams from disk
    workers: int = ranged(2, low=0, high=64)  # image_folder, when streamed: processes decoding images ahead of training (0: in the training process)


@dataclass
class TranslationDataConfig(DataConfig):
    """Image-to-image data: two domains, A and B, paired or not, with a held-out split."""

    direction: Direction = Direction.AtoB  # AtoB: A is the input and B the target; BtoA swaps them
    jitter: bool = True  # training only: random crops shifted up to 1/16 of the size each way
    jitter_resize: bool = False  # true: the reference's jitter, resizing to 286/256 of the size before the crop (it also rescales and blurs); false: shift only, repeating the border
    flip: bool = True  # training only: random horizontal flip, the same for both sides of a pair


@dataclass
class OptimizerConfig:
    name: OptimizerName = OptimizerName.adam  # the optimizer; Adam is the only one
    lr_g: float = ranged(2e-4, low=0, low_open=True, high=1)  # G's learning rate (and the encoder's, for the AAE)
    lr_d: float = ranged(2e-4, low=0, low_open=True, high=1)  # D's learning rate; a different one from lr_g is the two time-scale rule (TTUR)
    beta1: float = ranged(0.5, low=0, high=1, high_open=True)  # Adam's first-moment decay; 0.5 (DCGAN, pix2pix, CycleGAN) damps oscillation
    beta2: float = ranged(0.999, low=0, high=1, high_open=True)  # Adam's second-moment decay
    lr: Optional[float] = ranged(None, low=0, low_open=True, high=1, example=2e-4)  # one knob for sweeps: when set, it replaces both lr_g and lr_d
    schedule: LrSchedule = LrSchedule.constant  # linear_decay: constant, then linearly down to zero
    decay_start: float = ranged(0.5, low=0, high=1, high_open=True)  # linear_decay: the fraction of train.steps after which the rate falls


@dataclass
class DeviceConfig:
    type: DeviceType = DeviceType.auto  # auto (CUDA if present, else CPU), cpu or cuda
    precision: Precision = Precision.auto  # auto (the fastest format measured on this device), fp32, bf16 (autocast) or fp16 (autocast + gradient scaler, CUDA)
    threads: int = ranged(0, low=1, high=256, zero_means="torch's default")  # CPU threads for torch; 0 keeps torch's default (one per core)
    channels_last: bool = True  # NHWC memory layout; faster convolutions on CPU and tensor cores
    sync_bn: bool = False  # data-parallel training on GPUs: BatchNorm statistics over the global batch (SyncBatchNorm), not each process's share
    dist_timeout: float = ranged(600.0, low=1, high=86400)  # data-parallel training: seconds to wait for the other processes (rendezvous, each collective)
    compile: str = "auto"  # torch.compile the training step: true, false, or auto (where measured faster, compile time included)
    cache_dir: str = "${oc.env:GAN_CLI_CACHE,\"~/.cache/gan-cli\"}"  # precision=auto's probe result for this machine; env GAN_CLI_CACHE moves it


@dataclass
class LossConfig:
    name: GanLoss = GanLoss.non_saturating  # non_saturating, saturating, lsgan, hinge or wgan_gp
    real_label: float = ranged(1.0, low=0, low_open=True, high=1)  # the target for real images in D's loss; 0.9 is one-sided label smoothing
    gp_weight: float = ranged(10.0, low=0, high=1e6)  # wgan_gp: the gradient penalty's weight (the paper's lambda = 10)


@dataclass
class TrainConfig:
    steps: int = ranged(2000, low=1, high=10**9)  # G updates; set steps or epochs, not both
    epochs: Optional[int] = ranged(None, low=1, high=10**6)  # passes over the data, converted to steps
    batch_size: int = ranged(128, low=1, high=65536)  # images per D step
    d_steps: int = ranged(1, low=1, high=100)  # k: D updates per G update, each on a fresh batch
    seed: int = ranged(0, low=0, high=2**32 - 1)  # seeds weights, batch order and noise
    log_every: int = ranged(50, low=1, high=10**9)  # scalars to TensorBoard and the progress bar
    sample_every: int = ranged(250, low=1, high=10**9)  # sample grid from the fixed latents
    checkpoint_every: int = ranged(500, low=1, high=10**9)  # step_XXXXXXX.pt beside last.pt
    keep_last: int = ranged(0, low=1, high=10**6, zero_means="keep all")  # keep only the newest K periodic checkpoints (0 keeps all)
    best_metric: Optional[str] = "auto"  # a logged scalar that best.pt follows; auto: eval/fid for models that draw from noise, none for translation; null: no best.pt
    num_samples: int = ranged(64, low=1, high=1024)  # images in each sample grid
    nan_policy: NanPolicy = NanPolicy.stop
    deterministic: bool = False  # deterministic kernels, for bit-exact resume checks


@dataclass
class EvalConfig:
    enabled: bool = True  # false: no evaluation at all (no FID, no held-out scores)
    every: int = ranged(500, low=1, high=10**9, zero_means="at the end only")  # score every N steps, and at the end (0: at the end only)
    num_samples: int = ranged(1000, low=1, high=10**6, zero_means="the whole split")  # images scored: generated and real for FID, held-out for translation (0: all)
    batch_size: int = ranged(256, low=1, high=4096)  # images generated or translated at once while scoring
    seed: int = ranged(0, low=0, high=2**32 - 1)  # the latents and the real subset that scores use; fixed so scores compare across steps
    extractor: Extractor = Extractor.auto  # auto, classifier, random_conv or inception: the features FID compares
    inception_weights: Optional[str] = None  # eval.extractor=inception: the weights file (default: torch's hub cache, downloaded on first use)
    cache_dir: str = "${oc.env:GAN_CLI_CACHE,\"~/.cache/gan-cli\"}/metrics"  # trained classifiers and real-image features, reused across runs; env GAN_CLI_CACHE moves it


@dataclass
class ModelConfig:
    """Fields every family has; each family's schema extends it."""

    name: str = MISSING  # model family registry key
    image_size: int = ranged(32, low=8, high=1024)  # the data is resized to it; some networks take only some sizes
    spectral_norm: bool = False  # spectral normalisation of every layer of D: bounds D's slope, steadies training
    ema: bool = False  # keep a moving average of G's weights; grids, gan-sample and metrics draw from it (smoother, usually better samples)
    ema_half_life: float = ranged(10_000.0, low=1, high=1e12)  # ema: images after which an old weight's share of the average halves
    ema_decay: Optional[float] = ranged(None, low=0, low_open=True, high=1, high_open=True, example=0.999)  # ema: the per-step decay instead of ema_half_life
    ema_rampup: float = ranged(0.05, low=0, high=1, zero_means="no ramp-up")  # ema: the half-life is at most this fraction of the images seen (StyleGAN2-ADA), so early weights fade


class AugmentName(str, Enum):
    none = "none"  # D sees the images as they are
    diffaugment = "diffaugment"  # DiffAugment (Zhao et al., 2020): differentiable transforms of every image D sees; for small datasets


@dataclass
class AugmentConfig:
    name: AugmentName = AugmentName.none  # none or diffaugment
    policy: str = "color,translation,cutout"  # diffaugment: transforms from color, translation, cutout; quote a list: 'color,cutout'


@dataclass
class RegularizerConfig:
    r1_gamma: float = ranged(0.0, low=0, high=1e6)  # R1 (Mescheder et al., 2018): gamma/2 * E|grad D(x)|^2 on real images; 0.1-10 for small images
    r1_every: int = ranged(16, low=1, high=10**6)  # lazy regularization (StyleGAN2): the R1 term every N D steps, weighted by N


class WandbMode(str, Enum):
    auto = "auto"  # online when an API key is set up (WANDB_API_KEY, or wandb login's ~/.netrc), else offline; WANDB_MODE, when set, decides
    online = "online"  # needs an API key
    offline = "offline"  # files in the run directory only; wandb sync uploads them later


# The logger group: conf/logger/NAME.yaml turns one tracker on, and logger=[tensorboard,mlflow] several.
@dataclass
class TensorBoardLoggerConfig:
    enabled: bool = False  # logger=tensorboard (the default): tb/ in the run directory; tensorboard --logdir outputs


@dataclass
class CsvLoggerConfig:
    enabled: bool = False  # logger=csv: scalars.csv in the run directory, a column per scalar and a row per logged step


@dataclass
class MlflowLoggerConfig:
    enabled: bool = False  # logger=mlflow: params, every scalar, and the run's files at the end (pip install 'gan-cli[mlflow]')
    tracking_uri: str = "sqlite:///outputs/mlflow.db"  # the store: a relative sqlite path is under the working directory; http(s)://HOST for a server
    experiment: str = "gan-train"  # the experiment's name; a sweep gets one of its own, 'NAME: SWEEP_DIR'
    log_checkpoint: bool = False  # also upload last.pt and best.pt at the end


@dataclass
class WandbLoggerConfig:
    enabled: bool = False  # logger=wandb: Weights & Biases, files in the run directory's wandb/ (pip install 'gan-cli[wandb]')
    mode: WandbMode = WandbMode.auto  # auto (online with an API key, else offline), online or offline
    project: str = "gan-train"  # the W&B project
    entity: Optional[str] = None  # the W&B team or user; null: the API key's default


@dataclass
class LoggerConfig:
    """Where a run's scalars go besides its own files; any number of trackers at once."""

    tensorboard: TensorBoardLoggerConfig = field(default_factory=TensorBoardLoggerConfig)
    csv: CsvLoggerConfig = field(default_factory=CsvLoggerConfig)
    mlflow: MlflowLoggerConfig = field(default_factory=MlflowLoggerConfig)
    wandb: WandbLoggerConfig = field(default_factory=WandbLoggerConfig)


@dataclass
class Config:
    model: Any = MISSING
    data: DataConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    device: DeviceConfig = MISSING
    loss: LossConfig = MISSING
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    regularizer: RegularizerConfig = field(default_factory=RegularizerConfig)
    augment: AugmentConfig = MISSING
    logger: LoggerConfig = field(default_factory=LoggerConfig)
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
    store.store(group="augment", name="augment_schema", node=AugmentConfig)
    for name, schema in model_schemas.items():
        store.store(group="model", name=f"{name}_schema", node=schema)


def check_config(cfg) -> None:
    """Every key against the range its schema declares; each failure names the key and a valid value."""
    check_ranges(cfg)
    check_grid_fits(cfg.train.num_samples, cfg.model.image_size)
    check_loss_keys(cfg.loss)
    compile_setting(cfg.device.compile)


def check_run_length(train_cfg, set_keys: set[str]) -> None:
    """train.epochs replaces train.steps when set, so a user who sets both would get a silently different
    run; only the keys set in ``set_keys`` count, since steps always has a default."""
    if train_cfg.epochs is not None and {"train.steps", "train.epochs"} <= set_keys:
        raise UserError(
            f"train.steps={train_cfg.steps} and train.epochs={train_cfg.epochs} both set the run's length, and epochs "
            "would replace steps; drop one (or set train.epochs=null to count steps)"
        )


COMPILE_CHOICES = ("auto", "true", "false")


def compile_setting(value) -> str:
    """device.compile as one of COMPILE_CHOICES (the command line hands true and false over as bools)."""
    setting = str(value).lower()
    if setting not in COMPILE_CHOICES:
        raise UserError(f"device.compile={value} must be true, false or auto; e.g. device.compile=auto")
    return setting


def check_loss_keys(loss_cfg) -> None:
    """Label smoothing has a label to smooth only in the cross-entropy and least-squares losses."""
    if GanLoss(loss_cfg.name) in (GanLoss.hinge, GanLoss.wgan_gp) and loss_cfg.real_label != 1:
        raise UserError(
            f"loss.real_label={loss_cfg.real_label} smooths the real label, and loss={GanLoss(loss_cfg.name).value} "
            "scores images without labels; drop loss.real_label, or use loss=non_saturating or loss=lsgan"
        )


def check_grid_fits(num_samples: int, image_size: int) -> None:
    """A translation grid shows three images per sample (input, output, target); the bound assumes it."""
    per_sample = 3 * (image_size + GRID_PADDING) ** 2
    if num_samples * per_sample > MAX_GRID_PIXELS:
        most = MAX_GRID_PIXELS // per_sample
        raise UserError(
            f"train.num_samples={num_samples} at model.image_size={image_size} makes a sample grid too large "
            f"to write; e.g. train.num_samples={most}"
        )


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
