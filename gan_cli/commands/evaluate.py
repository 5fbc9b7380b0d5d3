"""``gan-eval``: the sample-quality scores of a checkpoint, or of a folder of images, against real data.

``gan-eval ckpt=PATH`` scores ``eval.num_samples`` samples drawn as training scores them, against the
data the checkpoint was trained on, with the checkpoint's own eval settings: the same figures as its
``metrics.jsonl``. ``gan-eval images=DIR data=mnist`` scores the images in a folder. Any ``data``,
``eval`` or ``device`` override of gan-train applies (``data.split=test``, ``eval.num_samples=5000``,
``eval.extractor=random_conv``, ``device=cuda``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig
from PIL import Image, UnidentifiedImageError
from rich.table import Table

from gan_cli.commands.compose import compose_config, hydra_quoted
from gan_cli.commands.sample import family_from_checkpoint
from gan_cli.data import DataRequest, TranslationImages, build_dataset
from gan_cli.data.image_folder import list_images, load_image_folder
from gan_cli.device.runtime import resolve_device
from gan_cli.errors import UserError, describe_os_error
from gan_cli.metrics.quality import (
    QualityScorer,
    RealImages,
    Track,
    build_scorer,
    describe_source,
    generate_samples,
    untracked,
)
from gan_cli.training.checkpoint import find_checkpoint, load_checkpoint
from gan_cli.training.ema import averaged_generators, wants_averages

OVERRIDABLE = ("data", "eval", "device")  # the config groups gan-eval takes from gan-train's


@dataclass
class EvalCommand:
    ckpt: Optional[str] = None  # a checkpoint written by gan-train, or its run directory (for last.pt): score samples drawn from it
    images: Optional[str] = None  # or a folder of images, e.g. from gan-sample individual=true (with data=... for the real set)
    json: bool = False  # print one JSON object instead of a table
    ema: Optional[bool] = None  # ckpt= trained with model.ema=true: score G's moving average (the default) or, with ema=false, the raw G


@dataclass
class EvalReport:
    figures: dict[str, float]
    record: dict[str, Any]
    source: str

    def as_json(self) -> dict[str, Any]:
        """Plain keys: fid, kid, kid_std, precision, recall, density, coverage (class_accuracy), and the record."""
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


def evaluation_config(saved: Optional[dict[str, Any]], overrides: list[str]) -> DictConfig:
    """gan-train's config under the overrides; for a checkpoint, its own data and eval settings
    come first, so that its scores match the ones written in training."""
    chooses_data = any(o.startswith("data=") for o in overrides)
    inherited = []
    if saved is not None:
        given = {o.split("=", 1)[0] for o in overrides}
        sections = {"eval": saved.get("eval", {})} | ({} if chooses_data else {"data": saved["data"]})
        inherited = [f"data={saved['data']['name']}"] if not chooses_data else []
        inherited += [
            f"{section}.{key}={dump(value)}"
            for section, values in sections.items()
            for key, value in values.items()
            if f"{section}.{key}" not in given and key not in ("name", "cache_dir")  # the cache is this machine's
        ]
    return compose_config(inherited + overrides)


def dump(value: Any) -> str:
    """A saved config value as a Hydra override value."""
    if value is None:
        return "null"
    if isinstance(value, str):  # quoted, since a path may start with ~ (Hydra's delete) or hold spaces
        return hydra_quoted(value)
    return str(value)


def real_images(cfg: DictConfig, size: int) -> RealImages:
    """The configured data at ``size``, as the real set; translation data has no single image set."""
    try:
        dataset = build_dataset(cfg.data, DataRequest(size))
    except OSError as error:
        raise UserError(f"cannot read the data ({describe_os_error(error)}); check data.path and data.root") from None
    if isinstance(dataset, TranslationImages):
        raise UserError(f"data={cfg.data.name} is translation data; gan-eval scores against a set of images, e.g. data=mnist")
    images, labels = dataset.scoring_images()
    return RealImages(images, labels, dataset.num_classes, describe_source(cfg.data))


def evaluate_checkpoint(spec: str, overrides: list[str], ema: Optional[bool] = None, track: Track = untracked) -> EvalReport:
    ckpt = find_checkpoint(spec, "ckpt")
    payload = load_checkpoint(ckpt)
    cfg = evaluation_config(payload["config"], overrides)
    family = family_from_checkpoint(payload, resolve_device(cfg.device.type))
    if family.latent_dim is None:
        raise UserError(
            f"model={payload['family']} translates images; gan-eval scores models that draw from noise. Its "
            "held-out scores are in the run's metrics.jsonl, and gan-sample input=DIR target=DIR scores a folder"
        )
    averaged = wants_averages(family, ema)
    scorer = build_scorer(cfg.eval, real_images(cfg, payload["config"]["model"]["image_size"]), cfg.data, track)
    with averaged_generators(family, enabled=averaged) as swapped:
        images, labels = generate_samples(family, scorer.num_samples, scorer.seed, scorer.batch_size)
    weights = ", moving average" if swapped else ""
    return EvalReport(scorer.score_images(images, labels), scorer.record(), f"{ckpt} (step {payload['step']}{weights})")


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
