"""``gan-sample`` for translation checkpoints: translate every image in a folder, keeping names.

Each input is read at the checkpoint's size and channels and its output written under ``out`` at the
same relative path and file name, with the target domain's channels. With ``target=DIR`` holding the
ground truth under the same relative paths, the run also scores L1, PSNR and SSIM, as training does,
and what the outputs mean: their FID against the target images, in the features of the checkpoint's
classifier for the outputs' domain where its training data was labeled (random_conv otherwise), and
their class accuracy where the inputs sit in class subfolders (input=DIR/<class>/x.png). It writes
them to scores.json beside the outputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from gan_cli.commands.checkpoint_data import evaluation_config, translation_data
from gan_cli.config import Direction
from gan_cli.data.image_folder import list_images
from gan_cli.data.memory import to_unit_range
from gan_cli.data.translation_folders import class_of, read_headers, read_translation_image
from gan_cli.errors import UserError
from gan_cli.families.translation import TranslationFamily, fixed_randomness
from gan_cli.metrics.classifier import Track, untracked
from gan_cli.metrics.extractors import FeatureExtractor, random_conv_extractor
from gan_cli.metrics.semantic import domain_extractor
from gan_cli.metrics.translation import CLASS_ACCURACY, FID, FID_MIN_IMAGES, DomainJudge, SemanticScores, TranslationScores
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
class FolderJudge:
    """How target= judges what the outputs mean: FID in ``extractor``'s features against the target
    images, and class accuracy where it classifies and the inputs' classes are known."""

    extractor: FeatureExtractor
    labels: Optional[torch.Tensor] = None  # the class of each input file, in the order they are translated
    notes: tuple[str, ...] = ()  # why a figure is missing, or judged otherwise than in training


def folder_judge(family: TranslationFamily, saved: dict[str, Any], job: FolderJob, files: list[Path], track: Track = untracked) -> FolderJudge:
    """The judge of the outputs' domain as training built it: the classifier of that domain where the
    checkpoint's data is labeled (its data read again, the classifier then read from the metrics
    cache), else random_conv. Data that cannot be read here costs the classifier, with a note."""
    side, channels = ("input", family.data.channels) if job.reverse else ("target", family.target_channels)
    if not family.data.num_classes:
        return FolderJudge(random_conv_extractor(channels))
    try:
        cfg = evaluation_config(saved, [])
        data = translation_data(cfg, family)
    except UserError as error:
        note = f"FID is in random_conv features, with no class accuracy: the checkpoint's training data cannot be read here ({error})"
        return FolderJudge(random_conv_extractor(channels), notes=(note,))
    extractor = domain_extractor(data, side, channels, Path(cfg.eval.cache_dir).expanduser(), track)
    names = data.class_names or tuple(str(index) for index in range(data.classes))
    labels, notes = input_labels(job.input, files, names)
    return FolderJudge(extractor, labels, notes)


def input_labels(root: Path, files: list[Path], names: tuple[str, ...]) -> tuple[Optional[torch.Tensor], tuple[str, ...]]:
    """The class of each input from the subfolder of ``root`` it sits in, as data=image_folder reads
    classes, where every input sits in one named for a class of the checkpoint (``names``); else None,
    with a note when the inputs sit in subfolders but not all in such ones."""
    folders = [class_of(root, path) for path in files]
    if all(folder is None for folder in folders):
        return None, ()
    index = {name: i for i, name in enumerate(names)}
    stray = next((path for path, folder in zip(files, folders) if folder not in index), None)
    if stray is not None:
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        return None, (f"no class accuracy: {stray.relative_to(root)} is not in a subfolder named for a class of the checkpoint ({shown})",)
    return torch.tensor([index[folder] for folder in folders], dtype=torch.long), ()


class FolderScores:
    """``update(outputs, targets, window)`` per batch of the files; ``compute()`` L1, PSNR and SSIM
    against the targets and, with a judge, FID and class accuracy, with notes on what is missing."""

    def __init__(self, judge: Optional[FolderJudge]) -> None:
        self.judge = judge
        self.pixels = TranslationScores()
        self.semantic = SemanticScores(DomainJudge(judge.extractor)) if judge else None
        self.count = 0

    def update(self, outputs: torch.Tensor, targets: torch.Tensor, window: slice) -> None:
        self.pixels.update(outputs, targets)
        self.count += len(outputs)
        if self.semantic is not None:
            self.semantic.update(outputs, None if self.judge.labels is None else self.judge.labels[window])
            self.semantic.update_real(targets)

    def compute(self) -> tuple[dict[str, float], tuple[str, ...]]:
        figures = self.pixels.compute()
        if self.semantic is None:
            return figures, ()
        if self.count < FID_MIN_IMAGES:
            missing = f"no FID: it needs at least {FID_MIN_IMAGES} images, and input= holds {self.count}"
            return figures | self.semantic.accuracy(), (*self.judge.notes, missing)
        return figures | self.semantic.compute(), self.judge.notes


@dataclass(frozen=True)
class Translated:
    """What a folder's translation wrote, and its scores against target= when there was one."""

    images: list[Path]
    scores_file: Optional[Path] = None
    scores: Optional[dict[str, float]] = None  # l1, psnr, ssim, fid (from 2 images), class_accuracy (where known)
    extractor: str = ""  # the features FID is in: classifier or random_conv
    notes: tuple[str, ...] = ()  # why a figure is missing, or judged otherwise than in training


@torch.no_grad()
def translate_folder(
    family: TranslationFamily, job: FolderJob, files: list[Path], saved: Optional[dict[str, Any]] = None, track: Track = untracked
) -> Translated:
    """``saved``: the checkpoint's config, whose data judges the outputs beyond L1, PSNR and SSIM
    (with target=; without it, only those three)."""
    size = family.data.image_size
    in_channels, out_channels = family.data.channels, family.target_channels
    if job.reverse:
        in_channels, out_channels = out_channels, in_channels
    targets = target_files(job, files) if job.target else None
    check_channels(files, in_channels, size, "input")
    check_channels(targets or [], out_channels, size, "target")
    judge = folder_judge(family, saved, job, files, track) if targets and saved is not None else None
    scores = FolderScores(judge)
    written: list[Path] = []
    chunks = range(0, len(files), job.batch_size)
    for start in track(chunks, len(chunks), f"translating {len(files)} images, {job.batch_size} at a time"):
        window = slice(start, start + job.batch_size)
        with fixed_randomness(family.device):
            outputs = family.translate(read_batch(files[window], in_channels, size, "input").to(family.device), job.reverse).cpu()
        written += save_individual(outputs, job.out, [f.relative_to(job.input).as_posix() for f in files[window]])
        if targets:
            scores.update(outputs, read_batch(targets[window], out_channels, size, "target"), window)
    if not targets:
        return Translated(written)
    figures, notes = scores.compute()
    figures = {key: round(value, 5) for key, value in figures.items()}
    extractor = judge.extractor if judge else None
    scores_file = write_scores(figures, job, len(files), extractor, notes)
    return Translated(written, scores_file, figures, extractor.name if extractor else "", notes)


def write_scores(figures: dict[str, float], job: FolderJob, count: int, extractor: Optional[FeatureExtractor], notes: tuple[str, ...]) -> Path:
    record = {**figures, "images": count, "input": str(job.input), "target": str(job.target)}
    if extractor is not None:
        record |= {"extractor": extractor.describe(), "extractor_id": extractor.short_id()}
    if notes:
        record["notes"] = list(notes)
    path = job.out / "scores.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def translation_summary(translated: Translated, job: FolderJob, out: Path) -> str:
    """One line for the whole folder: how many, from where, into where, and the scores against target=."""
    line = f"translated {len(translated.images)} images from {job.input} into {out}"
    if translated.scores is None:
        return line
    figures = translated.scores
    line += f"; against {job.target}: L1 {figures['l1']:.4f}  PSNR {figures['psnr']:.2f} dB  SSIM {figures['ssim']:.4f}"
    if FID in figures:
        line += f"  FID {figures[FID]:.4g} ({translated.extractor})"
    if CLASS_ACCURACY in figures:
        line += f"  class accuracy {figures[CLASS_ACCURACY]:.3f}"
    line += f" (in {out / 'scores.json'})"
    return "; ".join([line, *translated.notes])
