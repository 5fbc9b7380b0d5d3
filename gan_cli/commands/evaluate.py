"""``gan-eval``: the scores of a checkpoint, or of a folder of images, against real data.

``gan-eval ckpt=PATH`` scores a checkpoint as training scores it, with its own data and eval
settings: the same figures as its ``metrics.jsonl``. A model that draws from noise is scored on
``eval.num_samples`` samples against the data it was trained on (FID, KID, ...); a translation model
(pix2pix, CycleGAN) on its held-out translations (L1, PSNR, SSIM, FID and class accuracy in its
domains' features, cycle L1). ``gan-eval images=DIR data=mnist`` scores the images in a folder. Any
``data``, ``eval`` or ``device`` override of gan-train applies (``data.split=test``,
``eval.num_samples=5000``, ``eval.extractor=random_conv``, ``device=cuda``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from omegaconf import DictConfig
from PIL import Image, UnidentifiedImageError
from rich.table import Table

from gan_cli.commands.checkpoint_data import evaluation_config, read_dataset, translation_data
from gan_cli.commands.sample import family_from_checkpoint
from gan_cli.data import DataRequest, TranslationImages
from gan_cli.data.image_folder import list_images, load_image_folder
from gan_cli.device.runtime import resolve_device
from gan_cli.errors import UserError
from gan_cli.families.base import Family
from gan_cli.families.translation import TranslationFamily
from gan_cli.metrics.quality import (
    QualityScorer,
    RealImages,
    Track,
    build_scorer,
    describe_source,
    generate_samples,
    untracked,
)
from gan_cli.metrics.semantic import translation_judges
from gan_cli.metrics.translation import FID_MIN_IMAGES
from gan_cli.training.checkpoint import find_checkpoint, load_checkpoint
from gan_cli.training.ema import averaged_generators, wants_averages

OVERRIDABLE = ("data", "eval", "device")  # the config groups gan-eval takes from gan-train's


@dataclass
class EvalCommand:
    ckpt: Optional[str] = None  # a checkpoint written by gan-train, or its run directory (for last.pt): score it as its training did
    images: Optional[str] = None  # or a folder of images, e.g. from gan-sample individual=true (with data=... for the real set)
    json: bool = False  # print one JSON object instead of a table
    ema: Optional[bool] = None  # ckpt= trained with model.ema=true: score G's moving average (the default) or, with ema=false, the raw G


@dataclass
class EvalReport:
    figures: dict[str, float]
    record: dict[str, Any]
    source: str

    def as_json(self) -> dict[str, Any]:
        """Plain keys: fid, kid, kid_std, precision, recall, density, coverage (class_accuracy), or for a
        translation checkpoint l1, psnr, ssim, fid (class_accuracy, input_*, cycle_l1_*); and the record."""
        plain = {name.removeprefix("eval/"): value for name, value in self.figures.items()}
        return {**plain, **{key.removeprefix("eval_"): value for key, value in self.record.items()}, "source": self.source}

    def table(self) -> Table:
        table = Table(title=f"gan-eval {self.source}", show_header=False)
        table.add_column("figure", style="bold")
        table.add_column("value", overflow="fold")
        for name, value in self.figures.items():
            if name != "eval/kid_std":
                shown = f"{value:.4g} ± {self.figures['eval/kid_std']:.2g}" if name == "eval/kid" else f"{value:.4g}"
                table.add_row(name.removeprefix("eval/"), shown)
        for key, value in self.record.items():
            table.add_row(key.removeprefix("eval_").replace("_", " "), str(value))
        return table


def split_arguments(args: list[str]) -> tuple[list[str], list[str]]:
    """gan-eval's own key=value arguments, and the gan-train overrides (data, eval, device)."""
    own_keys = set(EvalCommand.__dataclass_fields__)
    own, overrides = [], []
    for arg in args:
        key = arg.split("=", 1)[0].lstrip("+~")
        if "=" not in arg or key in own_keys:  # flags and malformed arguments: parse_key_values says what is wrong
            own.append(arg)
        elif key.split(".")[0] in OVERRIDABLE:
            overrides.append(arg)
        else:
            raise UserError(
                f"gan-eval does not take {key}=; it takes ckpt=, images=, json= and data, eval or device "
                "overrides, e.g. gan-eval images=DIR data=mnist eval.num_samples=2000"
            )
    return own, overrides


def real_images(cfg: DictConfig, size: int) -> RealImages:
    """The configured data at ``size``, as the real set; translation data has no single image set."""
    dataset = read_dataset(cfg.data, DataRequest(size))
    if isinstance(dataset, TranslationImages):
        raise UserError(f"data={cfg.data.name} is translation data; gan-eval scores against a set of images, e.g. data=mnist")
    images, labels = dataset.scoring_images()
    return RealImages(images, labels, dataset.num_classes, describe_source(cfg.data))


def evaluate_checkpoint(spec: str, overrides: list[str], ema: Optional[bool] = None, track: Track = untracked) -> EvalReport:
    ckpt = find_checkpoint(spec, "ckpt")
    payload = load_checkpoint(ckpt)
    cfg = evaluation_config(payload["config"], overrides)
    family = family_from_checkpoint(payload, resolve_device(cfg.device.type))
    family.networks.to(memory_format=torch.channels_last if cfg.device.channels_last else torch.contiguous_format)  # as training ran them
    score = score_translations if isinstance(family, TranslationFamily) else score_samples
    with averaged_generators(family, enabled=wants_averages(family, ema)) as swapped:
        figures, record = score(family, cfg, track)
    weights = ", moving average" if swapped else ""
    return EvalReport(figures, record, f"{ckpt} (step {payload['step']}{weights})")


def score_samples(family: Family, cfg: DictConfig, track: Track) -> tuple[dict[str, float], dict[str, Any]]:
    """``eval.num_samples`` samples drawn with the eval seed, against the data the model learnt from."""
    scorer = build_scorer(cfg.eval, real_images(cfg, family.model_cfg.image_size), cfg.data, track)
    images, labels = generate_samples(family, scorer.num_samples, scorer.seed, scorer.batch_size)
    return scorer.score_images(images, labels), scorer.record()


def score_translations(family: TranslationFamily, cfg: DictConfig, track: Track) -> tuple[dict[str, float], dict[str, Any]]:
    """The first ``eval.num_samples`` held-out images translated and judged as training judges them."""
    data = translation_data(cfg, family)
    heldout = data.heldout(cfg.eval.num_samples)
    fewest = min(len(heldout.input), len(heldout.target))
    if fewest < FID_MIN_IMAGES:
        raise UserError(
            f"FID needs at least {FID_MIN_IMAGES} held-out images of each domain, and the {heldout.split} split gives {fewest}; "
            "raise eval.num_samples (0: all), or add images to that split"
        )
    judges = translation_judges(cfg.eval, data, heldout, family.has_cycle, track)
    figures = family.evaluate(heldout, cfg.eval.batch_size, judges)
    return figures, {"eval_split": heldout.split, "eval_images": len(heldout.input), "eval_paired": heldout.paired, **judges.record()}


def folder_image_size(folder: Path) -> int:
    """The size generated images are compared at: the short side of the folder's first image."""
    files = list_images(folder) if folder.is_dir() else []
    if not files:
        raise UserError(f"images={folder} holds no images; point images= at a folder of generated images (e.g. gan-sample individual=true)")
    try:
        with Image.open(files[0]) as image:
            return min(image.size)
    except (UnidentifiedImageError, OSError) as error:
        raise UserError(f"cannot read image {files[0]} ({error}); remove or replace that file") from None


def evaluate_folder(images: str, overrides: list[str], track: Track = untracked) -> EvalReport:
    folder = Path(images).expanduser()
    if not folder.is_dir():
        raise UserError(f"images={images} is not a folder; point images= at a folder of generated images")
    cfg = evaluation_config(None, overrides)
    real = real_images(cfg, folder_image_size(folder))
    generated = load_image_folder(str(folder), real.images.shape[1], real.images.shape[-1], key="images")
    scorer: QualityScorer = build_scorer(cfg.eval, real, cfg.data, track)
    figures = scorer.score_images(generated.images.float().mul(2 / 255).sub(1))
    return EvalReport(figures, scorer.record(generated=len(generated)), str(folder))


def evaluate(command: EvalCommand, overrides: list[str], track: Track = untracked) -> EvalReport:
    """``track`` reports one-off work (training the metrics classifier) while it runs."""
    if (command.ckpt is None) == (command.images is None):
        raise UserError("give one of ckpt=PATH or images=DIR; e.g. gan-eval ckpt=outputs/.../checkpoints/last.pt")
    if command.ckpt is not None:
        return evaluate_checkpoint(command.ckpt, overrides, command.ema, track)
    return evaluate_folder(command.images, overrides, track)
