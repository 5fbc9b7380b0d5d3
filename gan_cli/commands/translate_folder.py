"""``gan-sample`` for translation checkpoints: translate every image in a folder, keeping names.

Each input is read at the checkpoint's size and channels and its output written under ``out`` at the
same relative path and file name, with the target domain's channels. With ``target=DIR`` holding the
ground truth under the same relative paths, the run also scores L1, PSNR and SSIM, as training does, and
writes them to scores.json beside the outputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from gan_cli.config import Direction
from gan_cli.data.image_folder import list_images
from gan_cli.data.memory import to_unit_range
from gan_cli.data.translation_folders import read_headers, read_translation_image
from gan_cli.errors import UserError
from gan_cli.families.translation import TranslationFamily, fixed_randomness
from gan_cli.metrics.classifier import Track, untracked
from gan_cli.metrics.translation import TranslationScores
from gan_cli.training.artifacts import save_individual


@dataclass(frozen=True)
class FolderJob:
    """What to translate, which way, and where to."""

    input: Path
    out: Path
    reverse: bool  # translate target → input domain (CycleGAN's F)
    target: Optional[Path] = None
    batch_size: int = 64


def resolve_direction(family: TranslationFamily, trained: str, asked: Optional[str]) -> bool:
    """True when the checkpoint must translate against its trained direction."""
    if asked is None:
        return False
    try:
        wanted = Direction(asked)
    except ValueError:
        raise UserError(f"direction={asked} is not known; use direction=AtoB or direction=BtoA") from None
    reverse = wanted is not Direction(trained)
    if reverse and not family.has_cycle:
        raise UserError(
            f"this {family.model_cfg.name} checkpoint was trained {trained} and translates that way only; "
            f"drop direction= or train one with data.direction={wanted.value}"
        )
    return reverse


def input_files(folder: Optional[str]) -> tuple[Path, list[Path]]:
    if not folder:
        raise UserError("translation needs input=DIR, a folder of images to translate (searched recursively)")
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise UserError(f"input={folder} is not a folder; pass input=DIR holding images (.png, .jpg, ...)")
    files = list_images(root)
    if not files:
        raise UserError(f"input={folder} holds no images; add .png or .jpg files, or pick another folder")
    return root, files


def read_batch(files: list[Path], channels: int, size: int, role: str) -> torch.Tensor:
    """Images in [-1, 1] at the checkpoint's size; grayscale is promoted to RGB, never the reverse."""
    images = [read_translation_image(f, channels, size, role) for f in files]
    return to_unit_range(torch.stack(images))


def target_files(job: FolderJob, files: list[Path]) -> list[Path]:
    """The ground truth for each input: the same relative path under target=DIR."""
    missing = [f for f in files if not (job.target / f.relative_to(job.input)).is_file()]
    if missing:
        raise UserError(
            f"target={job.target} has no {missing[0].relative_to(job.input)} (and {len(missing) - 1} more missing); "
            "it must hold the ground truth under the same relative paths as input="
        )
    return [job.target / f.relative_to(job.input) for f in files]


def check_channels(files: list[Path], channels: int, size: int, role: str) -> None:
    """Every header before any image is translated: an unreadable file, or colour where the checkpoint
    takes grayscale, is then one line before the work starts rather than thousands of images in."""
    for header in read_headers(files):
        if header.channels > channels:
            read_translation_image(header.path, channels, size, role)  # refuses it, in the data layer's words


@dataclass(frozen=True)
class Translated:
    """What a folder's translation wrote, and its scores against target= when there was one."""

    images: list[Path]
    scores_file: Optional[Path] = None
    scores: Optional[dict[str, float]] = None  # l1, psnr, ssim


@torch.no_grad()
def translate_folder(family: TranslationFamily, job: FolderJob, files: list[Path], track: Track = untracked) -> Translated:
    size = family.data.image_size
    in_channels, out_channels = family.data.channels, family.target_channels
    if job.reverse:
        in_channels, out_channels = out_channels, in_channels
    targets = target_files(job, files) if job.target else None
    check_channels(files, in_channels, size, "input")
    check_channels(targets or [], out_channels, size, "target")
    scores = TranslationScores()
    written: list[Path] = []
    chunks = range(0, len(files), job.batch_size)
    for start in track(chunks, len(chunks), f"translating {len(files)} images, {job.batch_size} at a time"):
        chunk = files[start : start + job.batch_size]
        with fixed_randomness(family.device):
            outputs = family.translate(read_batch(chunk, in_channels, size, "input").to(family.device), job.reverse).cpu()
        names = [f.relative_to(job.input).as_posix() for f in chunk]
        written += save_individual(outputs, job.out, names)
        if targets:
            scores.update(outputs, read_batch(targets[start : start + job.batch_size], out_channels, size, "target"))
    if not targets:
        return Translated(written)
    figures = {key: round(value, 5) for key, value in scores.compute().items()}
    return Translated(written, write_scores(figures, job, len(files)), figures)


def write_scores(figures: dict[str, float], job: FolderJob, count: int) -> Path:
    record = {**figures, "images": count, "input": str(job.input), "target": str(job.target)}
    path = job.out / "scores.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def translation_summary(translated: Translated, job: FolderJob, out: Path) -> str:
    """One line for the whole folder: how many, from where, into where, and the scores against target=."""
    line = f"translated {len(translated.images)} images from {job.input} into {out}"
    if translated.scores is None:
        return line
    figures = translated.scores
    return (
        f"{line}; against {job.target}: L1 {figures['l1']:.4f}  PSNR {figures['psnr']:.2f} dB  SSIM {figures['ssim']:.4f} "
        f"(in {out / 'scores.json'})"
    )
