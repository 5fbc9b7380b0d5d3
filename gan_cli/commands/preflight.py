"""Everything gan-train checks before Hydra creates a run directory, so that bad input writes nothing.

The order is cheapest first: the config (every job of a sweep), the output folder, then the data and
a model built on PyTorch's meta device, which sizes it without allocating it. A sweep's jobs are
checked the same way, each distinct data set loaded once, so that no job starts before all pass.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import NoReturn, Optional

import torch
from hydra._internal.utils import get_args_parser  # Hydra's parser: the flags stay Hydra's
from omegaconf import DictConfig, OmegaConf

from gan_cli.commands.compose import check_overrides, expand_home, output_folder, override_key
from gan_cli.commands.resume_arguments import check_resume, resume_arguments
from gan_cli.data import TrainingData
from gan_cli.device.memory_budget import check_fits
from gan_cli.device.precision import check_precision
from gan_cli.device.runtime import resolve_device
from gan_cli.errors import UserError, describe_os_error
from gan_cli.families import FAMILIES
from gan_cli.files import probe_writable
from gan_cli.metrics.quality import check_scorer_inputs
from gan_cli.training.run import resolve_best_metric
from gan_cli.training.trackers import check_loggers
from gan_cli.training.train import build_family, load_dataset

# Weights, their gradients and Adam's two moments: four copies of every parameter.
BYTES_PER_PARAMETER = 4 * 4


def check_command_line(args: list[str]) -> tuple[list[str], Optional[TrainingData]]:
    """All of gan-train's checks on its arguments; returns the arguments to hand Hydra (a resume
    rewrites them) and, for a single run, the loaded data."""
    try:
        return checked_arguments(args)
    except OSError as error:  # any path given: too long a name, no permission, an I/O error
        raise UserError(f"cannot use {describe_os_error(error)}; check the paths on the command line") from None


def checked_arguments(args: list[str]) -> tuple[list[str], Optional[TrainingData]]:
    args = expand_home(args)  # what Hydra runs with too: it would make a folder named ~
    parsed = parse_hydra_arguments(args)
    if parsed.overrides and any(override_key(o) == "resume" for o in parsed.overrides):
        if parsed.multirun:
            raise UserError("resume= continues one run; drop -m, or resume each sweep job's directory")
        args = resume_arguments(args)
        check_resume(args)
        parsed = parse_hydra_arguments(args)
    if only_prints(parsed):
        return args, None
    return args, preflight(parsed.overrides, parsed.multirun)


def only_prints(parsed: argparse.Namespace) -> bool:
    """Hydra's flags that print something and train nothing."""
    return bool(parsed.cfg or parsed.info or parsed.hydra_help or parsed.shell_completion)


def parse_hydra_arguments(args: list[str]) -> argparse.Namespace:
    """Hydra's own argument parser, so that the flags accepted here are exactly Hydra's; its usage
    message becomes one line."""

    def refuse(message: str) -> NoReturn:
        raise UserError(f"{message}; overrides are key=value (e.g. train.steps=100), and gan-train --help lists them")

    parser = get_args_parser()
    parser.error = refuse
    return parser.parse_args(args)


def preflight(overrides: list[str], multirun: bool) -> Optional[TrainingData]:
    """Check a gan-train command line; returns the loaded data for a single run (None for a sweep)."""
    configs = check_overrides(overrides, multirun)
    check_output_folder(overrides, multirun)
    for cfg in configs:
        check_loggers(cfg)
    if multirun:
        check_sweep_data(configs)
        return None
    dataset = load_dataset(configs[0])
    check_model(configs[0], dataset)
    return dataset


def check_sweep_data(configs: list[DictConfig]) -> None:
    """Every job's data and model, loading each distinct data set once and then letting it go."""
    for jobs in jobs_by_data(configs).values():
        dataset = load_dataset(jobs[0])
        for cfg in jobs:
            check_job_data(cfg, dataset)
            check_model(cfg, dataset)
        del dataset  # before the next set loads, so that only one is held at a time


def jobs_by_data(configs: list[DictConfig]) -> dict[tuple, list[DictConfig]]:
    """The jobs grouped by what their data is loaded from, and at: the data keys, the image size and
    whether the family trains on pairs."""
    groups: dict[tuple, list[DictConfig]] = {}
    for cfg in configs:
        pairs = FAMILIES.get(cfg.model.name).trains_on_pairs
        key = (OmegaConf.to_yaml(cfg.data), cfg.model.image_size, pairs)
        groups.setdefault(key, []).append(cfg)
    return groups


def check_job_data(cfg: DictConfig, dataset: TrainingData) -> None:
    """What load_dataset checks of one job against data loaded for another job of its group."""
    FAMILIES.get(cfg.model.name).check_data(cfg.model.name, dataset.info())
    if len(dataset) < cfg.train.batch_size:
        raise UserError(
            f"the dataset has {len(dataset)} images, fewer than train.batch_size={cfg.train.batch_size}; "
            "lower train.batch_size or add images"
        )


def check_output_folder(overrides: list[str], multirun: bool) -> None:
    """The folder Hydra will write must be creatable and writable."""
    key, folder = output_folder(overrides, multirun)
    try:
        probe_writable(Path(folder))
    except OSError as error:
        raise UserError(
            f"cannot write the output folder {folder} ({describe_os_error(error)}); "
            f"set {key}=DIR to a writable folder, or run gan-train from a writable working directory"
        ) from None


def check_model(cfg: DictConfig, dataset: TrainingData) -> None:
    """Build the family on the meta device, which sizes it without allocating it: model/data
    mismatches and an unknown train.best_metric surface here, and so does a model whose training
    state cannot fit in the device's free memory."""
    with torch.device("meta"):
        family = build_family(cfg.model, dataset.info(), cfg)
    resolve_best_metric(cfg, family, len(dataset))
    if cfg.eval.enabled and family.latent_dim is not None:
        check_scorer_inputs(cfg.eval, dataset.info().num_classes > 0)
    parameters = sum(p.numel() for p in family.networks.parameters())
    device = resolve_device(cfg.device.type)
    check_precision(device, cfg.device.precision)
    needed = parameters * BYTES_PER_PARAMETER
    if device.type != "cpu":  # on the CPU the data is already in memory; on a GPU it is copied there
        needed += dataset_bytes(dataset)
    check_fits(
        needed,
        f"model={cfg.model.name} with {parameters / 1e6:,.0f} M parameters (weights, gradients and Adam state)",
        "lower the model's widths (model.ngf, model.ndf, model.nz or the hidden sizes) or model.image_size",
        device,
    )


def dataset_bytes(dataset: TrainingData) -> int:
    held = [getattr(dataset, f.name) for f in dataclasses.fields(dataset)]
    return sum(t.numel() * t.element_size() for t in held if isinstance(t, torch.Tensor))
