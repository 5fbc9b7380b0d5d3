"""A checkpoint's data, read again as its training read it: gan-train's config with the checkpoint's
own data and eval settings first, then any ``data``, ``eval`` or ``device`` override (gan-eval's), so
that what is scored on it matches what training wrote."""

from __future__ import annotations

from typing import Any, Optional

from omegaconf import DictConfig

from gan_cli.commands.compose import compose_config, hydra_quoted
from gan_cli.data import DataRequest, TrainingData, TranslationImages, build_dataset
from gan_cli.errors import UserError, describe_os_error
from gan_cli.families.translation import TranslationFamily


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


def read_dataset(data_cfg, request: DataRequest) -> TrainingData:
    try:
        return build_dataset(data_cfg, request)
    except OSError as error:
        raise UserError(f"cannot read the data ({describe_os_error(error)}); check data.path and data.root") from None


def translation_data(cfg: DictConfig, family: TranslationFamily) -> TranslationImages:
    """The data of a translation checkpoint as its training read it: pairs, or for CycleGAN the two
    domains drawn apart, which is what each domain's classifier learnt from."""
    model = family.model_cfg.name
    data = read_dataset(cfg.data, DataRequest(family.data.image_size, 1, family.trains_on_pairs))
    if not isinstance(data, TranslationImages):
        raise UserError(
            f"data={cfg.data.name} is not translation data, and this {model} checkpoint translates images; "
            "drop data= to score it on its own data, or give data=paired_folder data.path=DIR"
        )
    found, trained = data.info(), family.data
    if (found.channels, found.target_channels) != (trained.channels, trained.target_channels):
        raise UserError(
            f"data={cfg.data.name} holds {found.channels}-channel inputs and {found.target_channels}-channel targets, but this "
            f"{model} checkpoint translates {trained.channels}-channel images into {trained.target_channels}-channel ones; "
            "drop data= to score it on its own data"
        )
    return data
