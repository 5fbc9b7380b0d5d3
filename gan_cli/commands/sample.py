"""``gan-sample``: images from a checkpoint alone; the checkpoint carries its resolved config.

Modes (``mode=``), each writing into ``out=``; ``sample`` returns what was written (``Sampled``):

* ``grid`` (default): ``n`` samples as grid_seed<seed>.png; with ``individual=true`` instead one file per
  sample, 000000.png ..., and nothing else, so that the folder can go to a FID tool whole.
  A conditional checkpoint (model=cgan) takes ``label=K`` for one class, or ``label=all`` (its default)
  for one row per class; its individual files carry the class: 000012_label3.png.
* ``interpolate``: the path from z(seed) to z(end_seed) in ``steps`` frames, as a PNG strip and a GIF.
* ``walk``: latent coordinate ``dim`` swept over [-span, span] in ``steps`` columns, ``rows`` base latents.
* ``arithmetic``: z_base + alpha * (mean z of heavy-ink samples - mean z of light-ink samples), with a
  JSON report of the measured ink; see ``gan_cli.families.latent`` for exactly what is computed.
* ``reconstruct`` (models with an encoder, model=aae): the images in ``input=DIR`` beside their
  reconstructions.
* ``translate`` (the default for pix2pix and CycleGAN checkpoints): every image in ``input=DIR``
  translated into ``out=`` under the same relative path; ``target=DIR`` scores the outputs against
  ground truth (L1, PSNR, SSIM, FID and, for inputs in class subfolders, class accuracy);
  ``direction=`` picks CycleGAN's generator. See ``gan_cli.commands.translate_folder``.

For a conditional checkpoint, ``label=all`` in the latent modes gives one row per class, every row with
the same latents; ``label=K`` gives ``rows`` rows of class K.

A figure's name says what it shows beyond its mode and seed, so that no variant overwrites another:
``_label3`` for one class, ``_raw`` for the raw G of a checkpoint that keeps a moving average
(grid_seed0_label3_raw.png). ``ckpt=`` takes a checkpoint file or a run directory (its last.pt).

What gan-sample prints on stdout, one path a line, is what a script needs next: the figures it drew, or,
where it writes a file per image (``individual=true``, translation), the folder alone, since thousands of
paths help no one; a line on stderr then says how many images went where, with any scores.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from omegaconf import MISSING, OmegaConf

from gan_cli.commands.output_folder import check_holds_only, check_output_folder, publish, staged, write_failure
from gan_cli.commands.translate_folder import (
    FolderJob,
    input_files,
    resolve_direction,
    translate_folder,
    translation_summary,
)
from gan_cli.config import DeviceType
from gan_cli.data.image_folder import list_images, load_image_folder
from gan_cli.data.memory import to_unit_range
from gan_cli.device.runtime import resolve_device
from gan_cli.errors import UserError
from gan_cli.families import FAMILIES, DataInfo, Family, load_families
from gan_cli.families.latent import (
    ARITHMETIC_ALPHAS,
    ARITHMETIC_QUANTILE,
    LatentSpace,
    arithmetic,
    attribute_vector,
    generate_batched,
    ink,
    interpolation_path,
    label_classes,
    walk,
)
from gan_cli.families.translation import TranslationFamily
from gan_cli.metrics.classifier import Track, untracked
from gan_cli.ranges import check_ranges, ranged
from gan_cli.training.artifacts import image_grid, save_individual, save_png, to_pil
from gan_cli.training.checkpoint import find_checkpoint, load_checkpoint, run_dir_of
from gan_cli.training.ema import attach_averages, averaged_generators, averaged_names, wants_averages

ALL_LABELS = "all"


class SampleMode(str, Enum):
    grid = "grid"  # n samples in one grid (the default)
    interpolate = "interpolate"  # a path between two seeds: PNG strip and GIF
    walk = "walk"  # vary latent coordinate dim over a range
    arithmetic = "arithmetic"  # add and subtract mean latents chosen by a measured attribute
    reconstruct = "reconstruct"  # encode and decode the images in input= (model=aae)
    translate = "translate"  # translate the images in input= (model=pix2pix, cyclegan)


@dataclass
class SampleConfig:
    ckpt: str = MISSING  # a checkpoint written by gan-train (outputs/.../checkpoints/best.pt), or its run directory for last.pt
    n: int = ranged(64, low=1, high=65536)  # how many images (grid); how many input images at most (reconstruct)
    out: Optional[str] = None  # output folder; default: <run dir>/generated
    individual: bool = False  # one PNG per image, 000000.png ..., instead of the grid: out= then holds only the samples, for FID tools
    seed: int = ranged(0, low=0, high=2**32 - 1)  # same seed, same images
    nrow: Optional[int] = ranged(None, low=1, high=1024, example=8)  # images per grid row; default: a square grid (one row per class for label=all)
    batch_size: int = ranged(256, low=1, high=4096)  # images generated at once
    device: DeviceType = DeviceType.auto  # auto, cpu or cuda
    mode: Optional[SampleMode] = None  # grid, interpolate, walk, arithmetic, reconstruct or translate; default: translate for translation checkpoints, else grid
    label: Optional[str] = None  # conditional models: a class index, or "all" (the default) for a row per class
    dim: Optional[int] = ranged(None, low=0, high=4095, example=0)  # walk: the latent coordinate to vary, 0 .. latent size - 1
    input: Optional[str] = None  # reconstruct, translate: a folder of images (searched recursively)
    target: Optional[str] = None  # translate: ground truth under the same relative paths; prints L1, PSNR, SSIM, FID (and class accuracy)
    direction: Optional[str] = None  # translate: AtoB or BtoA; default: the trained direction (CycleGAN can reverse)
    end_seed: Optional[int] = ranged(None, low=0, high=2**32 - 1, example=1)  # interpolate: the seed of the path's end; default seed + 1
    steps: int = ranged(10, low=2, high=1000)  # interpolate and walk: images along the path
    lerp: bool = False  # interpolate: straight line instead of slerp (uniform priors always use lerp)
    span: Optional[float] = ranged(None, low=0, low_open=True, high=100, example=3)  # walk: values from -span to span; default 3 (Gaussian prior) or 1 (uniform)
    rows: int = ranged(8, low=1, high=1024)  # walk and arithmetic: base latents, one row each (label=all: one row per class instead)
    pool: int = ranged(1000, low=1, high=100_000)  # arithmetic: samples scored to find the heavy and light groups
    ema: Optional[bool] = None  # checkpoints trained with model.ema=true draw from G's moving average; ema=false draws from the raw G


def family_from_checkpoint(payload: dict[str, Any], device: torch.device) -> Family:
    """Rebuild the family's networks from a checkpoint's config and load their weights."""
    load_families()
    cfg = OmegaConf.create(payload["config"])
    data = DataInfo(**{**payload["data_info"], "fields": tuple(payload["data_info"]["fields"])})
    family = FAMILIES.get(payload["family"])(cfg.model, data, cfg.loss, cfg.train.d_steps)
    attach_averages(family, cfg.model, cfg.train.batch_size)
    for name, state in payload["networks"].items():
        family.networks[name].load_state_dict(state)
    family.networks.to(device).eval()
    return family


def default_output(ckpt: Path) -> Path:
    return run_dir_of(ckpt) / "generated"


@dataclass(frozen=True)
class Figures:
    """Where a mode writes, the suffix that names what its figures show, and what reports a long write."""

    folder: Path  # the staging folder inside out=
    out: Path  # where the files go once all are whole
    suffix: str = ""  # "_label3" for one class, "_raw" for the raw G of an averaged checkpoint
    track: Track = untracked  # individual=true: the writing of thousands of files

    def path(self, stem: str, extension: str = ".png") -> Path:
        return self.folder / f"{stem}{self.suffix}{extension}"

    def save_each(self, images: torch.Tensor, names: list[str], batch_size: int) -> list[Path]:
        """One PNG per image, named as given, written a batch at a time under the tracker; refused before
        any is written when out= holds other images that a folder-reading tool would count with them."""
        check_holds_only(self.out, self.folder, [self.folder / name for name in names])
        starts = range(0, len(images), batch_size)
        written: list[Path] = []
        for start in self.track(starts, len(starts), f"writing {len(images)} images, {batch_size} at a time"):
            written += save_individual(images[start : start + batch_size], self.folder, names[start : start + batch_size])
        return written


@dataclass(frozen=True)
class Sampled:
    """What one call wrote, and the line that sums it up where it wrote a file per image."""

    files: list[Path]  # every file written, at its place in out=
    folder: Path  # out=
    summary: Optional[str] = None  # individual=true and translation: how many images, where, any scores

    def listing(self) -> list[Path]:
        """gan-sample's stdout, one path a line: the figures drawn, or the folder holding a file per image."""
        return self.files if self.summary is None else [self.folder]


def figure_suffix(label: Optional[int | str], raw: bool) -> str:
    """The defaults (every class, the moving average where there is one) add nothing to a name."""
    return ("" if label in (None, ALL_LABELS) else f"_label{label}") + ("_raw" if raw else "")


def check_sample_config(cfg: SampleConfig) -> None:
    """Every key against the range SampleConfig declares for it."""
    check_ranges(OmegaConf.structured(cfg))


def resolve_label(family: Family, label: Optional[str], model: str) -> Optional[int | str]:
    """None for an unconditional family; ALL_LABELS or a class index for a conditional one."""
    classes = label_classes(family)
    if not classes:
        if label is not None:
            raise UserError(f"label={label} needs a conditional checkpoint, but model={model} takes no labels; leave label out")
        return None
    if label is None or str(label).lower() == ALL_LABELS:
        return ALL_LABELS
    try:
        index = int(label)
    except ValueError:
        raise UserError(f"label={label} is not a class; use label=0..{classes - 1} or label=all") from None
    if not 0 <= index < classes:
        raise UserError(f"label={label} is out of range: this checkpoint has {classes} classes; use label=0..{classes - 1} or label=all")
    return index


@torch.no_grad()
def generate_images(family: Family, n: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """n images from fresh latents, drawn in batches on the family's device, returned on the CPU."""
    chunks = []
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        inputs = family.grid_inputs(count, generator).inputs
        chunks.append(family.generate(inputs).float().cpu())
    return torch.cat(chunks)


def conditional_inputs(family: Family, n: int, label: int | str, generator: torch.Generator) -> tuple[dict[str, torch.Tensor], int]:
    """Latents and labels for a conditional grid, and its images per row.

    label=K: n latents all of class K. label=all: one row per class with ceil(n / classes) images,
    column j sharing one latent across the rows (the family's training grid layout).
    """
    if label == ALL_LABELS:
        spec = family.grid_inputs(n, generator)
        return {key: value.cpu() for key, value in spec.inputs.items()}, spec.nrow
    z = LatentSpace(family).draw(n, generator)
    return {"z": z, "label": torch.full((n,), label, dtype=torch.long)}, math.ceil(math.sqrt(n))


def row_labels(space: LatentSpace, label: Optional[int | str], rows: int) -> tuple[int, Optional[torch.Tensor]]:
    """How many rows a latent-tool figure has, and each row's label (None when unconditional)."""
    if label is None:
        return rows, None
    if label == ALL_LABELS:
        return space.classes, torch.arange(space.classes)
    return rows, torch.full((rows,), label, dtype=torch.long)


def row_latents(space: LatentSpace, label: Optional[int | str], rows: int, generator: torch.Generator) -> torch.Tensor:
    """One base latent per row; with label=all every class row shares the same latent."""
    if label == ALL_LABELS:
        return space.draw(1, generator).expand(rows, -1).clone()
    return space.draw(rows, generator)


def per_cell(labels: Optional[torch.Tensor], columns: int) -> Optional[torch.Tensor]:
    return None if labels is None else labels.repeat_interleave(columns)


def sample_grid(family: Family, cfg: SampleConfig, figures: Figures, label) -> list[Path]:
    generator = torch.Generator().manual_seed(cfg.seed)
    if label is None:
        images = generate_images(family, cfg.n, cfg.batch_size, generator)
        names = [f"{i:06d}.png" for i in range(cfg.n)]
        nrow = cfg.nrow or max(1, math.ceil(math.sqrt(cfg.n)))
    else:
        inputs, nrow = conditional_inputs(family, cfg.n, label, generator)
        images = generate_batched(family, inputs, cfg.batch_size)
        names = [f"{i:06d}_label{int(y)}.png" for i, y in enumerate(inputs["label"])]
        if label != ALL_LABELS:
            nrow = cfg.nrow or nrow
    if cfg.individual:
        return figures.save_each(images, names, cfg.batch_size)
    return [save_png(image_grid(images, nrow), figures.path(f"grid_seed{cfg.seed}"))]


def sample_interpolate(family: Family, cfg: SampleConfig, figures: Figures, label) -> list[Path]:
    space = LatentSpace.of(family, "mode=interpolate")
    end_seed = cfg.seed + 1 if cfg.end_seed is None else cfg.end_seed
    start = space.draw(1, torch.Generator().manual_seed(cfg.seed))[0]
    end = space.draw(1, torch.Generator().manual_seed(end_seed))[0]
    path = interpolation_path(start, end, cfg.steps, spherical=space.spherical and not cfg.lerp)
    rows, labels = row_labels(space, label, 1)
    z = path.unsqueeze(0).expand(rows, -1, -1).flatten(0, 1)
    images = space.decode(z, per_cell(labels, cfg.steps), cfg.batch_size)
    stem = f"interpolate_seed{cfg.seed}-{end_seed}"
    strip = save_png(image_grid(images, cfg.steps), figures.path(stem))
    return [strip, write_column_gif(images.view(rows, cfg.steps, *images.shape[1:]), figures.path(stem, ".gif"))]


def sample_walk(family: Family, cfg: SampleConfig, figures: Figures, label) -> list[Path]:
    space = LatentSpace.of(family, "mode=walk")
    if cfg.dim is None:
        raise UserError(f"mode=walk needs dim=K, the latent coordinate to vary; use dim=0..{space.dim - 1}")
    if not 0 <= cfg.dim < space.dim:
        raise UserError(f"dim={cfg.dim} is out of range: the latent has {space.dim} coordinates; use dim=0..{space.dim - 1}")
    span = cfg.span or space.default_span
    rows, labels = row_labels(space, label, cfg.rows)
    base = row_latents(space, label, rows, torch.Generator().manual_seed(cfg.seed))
    z = walk(base, cfg.dim, torch.linspace(-span, span, cfg.steps))
    images = space.decode(z, per_cell(labels, cfg.steps), cfg.batch_size)
    return [save_png(image_grid(images, cfg.steps), figures.path(f"walk_dim{cfg.dim}_seed{cfg.seed}"))]


def sample_arithmetic(family: Family, cfg: SampleConfig, figures: Figures, label) -> list[Path]:
    space = LatentSpace.of(family, "mode=arithmetic")
    generator = torch.Generator().manual_seed(cfg.seed)
    rows, labels = row_labels(space, label, cfg.rows)
    base = row_latents(space, label, rows, generator)
    pool_z = space.draw(cfg.pool, generator)
    pool_labels = None
    if label == ALL_LABELS:
        pool_labels = torch.arange(cfg.pool) % space.classes
    elif label is not None:
        pool_labels = torch.full((cfg.pool,), label, dtype=torch.long)
    pool_ink = ink(space.decode(pool_z, pool_labels, cfg.batch_size))
    attribute = attribute_vector(pool_z, pool_ink, pool_labels)
    columns = len(ARITHMETIC_ALPHAS)
    images = space.decode(arithmetic(base, attribute.direction), per_cell(labels, columns), cfg.batch_size)
    column_ink = ink(images).view(rows, columns).mean(0)
    stem = f"arithmetic_seed{cfg.seed}"
    report = {
        "computed": "z_base + alpha * (mean z(heavy) - mean z(light)); one row per base latent, one column per alpha",
        "attribute": "ink: mean pixel brightness in [0, 1]",
        "groups": f"top and bottom {ARITHMETIC_QUANTILE:.0%} of a pool of {cfg.pool} samples by ink"
        + (", ranked within each class and averaged over classes" if pool_labels is not None else ""),
        "group_size": attribute.group_size,
        "heavy_mean_ink": round(attribute.heavy_score, 4),
        "light_mean_ink": round(attribute.light_score, 4),
        "direction_norm": round(float(attribute.direction.norm()), 4),
        "columns": [{"alpha": a, "mean_ink": round(float(v), 4)} for a, v in zip(ARITHMETIC_ALPHAS, column_ink)],
        "row_labels": None if labels is None else labels.tolist(),
    }
    report_path = figures.path(stem, ".json")
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    return [save_png(image_grid(images, columns), figures.path(stem)), report_path]


def sample_reconstruct(family: Family, cfg: SampleConfig, figures: Figures, label) -> list[Path]:
    if not hasattr(family, "encode"):
        raise UserError("mode=reconstruct needs a model with an encoder (model=aae); this checkpoint has none")
    images = load_input_images(cfg.input, family.data, cfg.n)
    with torch.no_grad():
        chunks = []
        for start in range(0, len(images), cfg.batch_size):
            batch = images[start : start + cfg.batch_size].to(family.device)
            chunks.append(family.generate({"z": family.encode(batch)}).float().cpu())
    recon = torch.cat(chunks)
    pairs = torch.stack([images, recon], dim=1).flatten(0, 1)
    if cfg.individual:
        names = [f"{i:06d}_{kind}.png" for i in range(len(images)) for kind in ("original", "reconstruction")]
        return figures.save_each(pairs, names, cfg.batch_size)
    pairs_per_row = cfg.nrow or 8
    return [save_png(image_grid(pairs, 2 * pairs_per_row), figures.path("reconstruct"))]


def load_input_images(folder: Optional[str], data: DataInfo, limit: int) -> torch.Tensor:
    """Up to ``limit`` images from ``folder`` at the checkpoint's size and channels, in [-1, 1]."""
    if not folder:
        raise UserError("mode=reconstruct needs input=DIR, a folder of images to encode and decode")
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise UserError(f"input={folder} is not a folder; pass input=DIR holding images (.png, .jpg, ...)")
    if not list_images(root):
        raise UserError(f"input={folder} holds no images; add .png or .jpg files, or pick another folder")
    dataset = load_image_folder(str(root), data.channels, data.image_size, limit)
    return to_unit_range(dataset.images)


def write_column_gif(frames: torch.Tensor, path: Path, frame_ms: int = 120) -> Path:
    """A GIF whose frame t shows column t of every row ([rows, steps, C, H, W]), there and back."""
    rows, steps = frames.shape[:2]
    pictures = [to_pil(image_grid(frames[:, t], max(1, math.ceil(math.sqrt(rows))))) for t in range(steps)]
    pictures = pictures + pictures[-2:0:-1]
    path.parent.mkdir(parents=True, exist_ok=True)
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=frame_ms, loop=0)
    return path


MODES: dict[SampleMode, Callable[..., list[Path]]] = {
    SampleMode.grid: sample_grid,
    SampleMode.interpolate: sample_interpolate,
    SampleMode.walk: sample_walk,
    SampleMode.arithmetic: sample_arithmetic,
    SampleMode.reconstruct: sample_reconstruct,
}
WRITE_INDIVIDUALLY = (SampleMode.grid, SampleMode.reconstruct)  # the modes that individual=true turns into a file per image


def resolve_mode(cfg: SampleConfig, family: Family, model: str) -> SampleMode:
    """The asked mode, or the family's default; a mode the checkpoint cannot serve is a UserError."""
    translates = isinstance(family, TranslationFamily)
    mode = SampleMode(cfg.mode) if cfg.mode is not None else (SampleMode.translate if translates else SampleMode.grid)
    if translates and mode is not SampleMode.translate:
        raise UserError(
            f"mode={mode.value} draws from a latent space, but this {model} checkpoint translates images; "
            "use gan-sample ckpt=... input=DIR (mode=translate)"
        )
    if not translates and mode is SampleMode.translate:
        raise UserError(f"mode=translate needs a pix2pix or cyclegan checkpoint; this one is model={model}")
    if not translates and cfg.input and mode is not SampleMode.reconstruct:
        raise UserError(
            f"input= is for translation checkpoints (pix2pix, cyclegan) and mode=reconstruct (aae); this model={model} "
            "checkpoint draws images from noise: drop input="
        )
    return mode


def sample_translate(family: TranslationFamily, cfg: SampleConfig, staging: Path, out: Path, saved: dict[str, Any], track: Track) -> Sampled:
    """``saved``: the checkpoint's config, whose data the outputs are judged by with target=."""
    root, files = input_files(cfg.input)
    reverse = resolve_direction(family, saved["data"].get("direction", "AtoB"), cfg.direction)
    target = Path(cfg.target).expanduser() if cfg.target else None
    if target is not None and not target.is_dir():
        raise UserError(f"target={cfg.target} is not a folder; pass target=DIR holding the ground truth, or leave it out")
    job = FolderJob(root, staging, reverse, target, cfg.batch_size)
    translated = translate_folder(family, job, files, saved, track)
    scores = [translated.scores_file] if translated.scores_file else []
    placed = publish([*translated.images, *scores], staging, out)
    return Sampled(placed, out, translation_summary(translated, job, out))


def sample_latent(family: Family, cfg: SampleConfig, mode: SampleMode, figures: Figures, label) -> Sampled:
    written = MODES[mode](family, cfg, figures, label)
    placed = publish(written, figures.folder, figures.out)
    per_image = cfg.individual and mode in WRITE_INDIVIDUALLY
    return Sampled(placed, figures.out, f"wrote {len(placed)} images into {figures.out}" if per_image else None)


def sample(cfg: SampleConfig, track: Track = untracked) -> Sampled:
    """Run the chosen mode; ``track`` reports the long part of the modes that write a file per image."""
    check_sample_config(cfg)
    ckpt = find_checkpoint(cfg.ckpt, "ckpt")
    payload = load_checkpoint(ckpt)
    family = family_from_checkpoint(payload, resolve_device(cfg.device))
    mode = resolve_mode(cfg, family, payload["family"])
    label = None if mode is SampleMode.translate else resolve_label(family, cfg.label, payload["family"])
    out = Path(cfg.out).expanduser() if cfg.out else default_output(ckpt)
    check_output_folder(out, defaulted=not cfg.out)
    averaged = wants_averages(family, cfg.ema)
    raw = bool(averaged_names(family)) and not averaged
    try:
        with staged(out) as staging, averaged_generators(family, enabled=averaged):
            if mode is SampleMode.translate:
                return sample_translate(family, cfg, staging, out, payload["config"], track)
            return sample_latent(family, cfg, mode, Figures(staging, out, figure_suffix(label, raw), track), label)
    except OSError as error:
        raise write_failure(out, error) from None
