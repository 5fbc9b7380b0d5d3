"""``gan-sample``: images from a checkpoint alone; the checkpoint carries its resolved config."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from omegaconf import MISSING, OmegaConf

from gan_cli.artifacts import image_grid, save_individual, save_png
from gan_cli.checkpoint import load_checkpoint
from gan_cli.errors import UserError
from gan_cli.families import FAMILIES, DataInfo, Family, load_families
from gan_cli.runtime import resolve_device


@dataclass
class SampleConfig:
    ckpt: str = MISSING  # a checkpoint written by gan-train, e.g. outputs/.../checkpoints/last.pt
    n: int = 64  # how many images
    out: Optional[str] = None  # output folder; default: <run dir>/generated
    individual: bool = False  # also write one PNG per image, 000000.png ..., for FID tools
    seed: int = 0  # same seed, same images
    nrow: Optional[int] = None  # images per grid row; default: a square grid
    batch_size: int = 256  # images generated at once
    device: str = "auto"  # auto, cpu or cuda


def family_from_checkpoint(payload: dict[str, Any], device: torch.device) -> Family:
    """Rebuild the family's networks from a checkpoint's config and load their weights."""
    load_families()
    cfg = OmegaConf.create(payload["config"])
    data = DataInfo(**{**payload["data_info"], "fields": tuple(payload["data_info"]["fields"])})
    family = FAMILIES.get(payload["family"])(cfg.model, data, cfg.loss, cfg.train.d_steps)
    for name, state in payload["networks"].items():
        family.networks[name].load_state_dict(state)
    family.networks.to(device).eval()
    return family


def default_output(ckpt: Path) -> Path:
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    return run_dir / "generated"


def check_sample_config(cfg: SampleConfig) -> None:
    for key in ("n", "batch_size"):
        if getattr(cfg, key) <= 0:
            raise UserError(f"{key}={getattr(cfg, key)} must be positive; e.g. {key}=64")
    if cfg.nrow is not None and cfg.nrow <= 0:
        raise UserError(f"nrow={cfg.nrow} must be positive, or leave it out for a square grid")


@torch.no_grad()
def generate_images(family: Family, n: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """n images from fresh latents, drawn in batches on the family's device, returned on the CPU."""
    chunks = []
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        inputs = family.grid_inputs(count, generator).inputs
        chunks.append(family.generate(inputs).float().cpu())
    return torch.cat(chunks)


def sample(cfg: SampleConfig) -> list[Path]:
    """Write a grid (and optionally one PNG per image); returns the written paths."""
    check_sample_config(cfg)
    ckpt = Path(cfg.ckpt).expanduser()
    payload = load_checkpoint(ckpt)
    family = family_from_checkpoint(payload, resolve_device(cfg.device))
    out = Path(cfg.out).expanduser() if cfg.out else default_output(ckpt)
    images = generate_images(family, cfg.n, cfg.batch_size, torch.Generator().manual_seed(cfg.seed))
    nrow = cfg.nrow or max(1, math.ceil(math.sqrt(cfg.n)))
    written = [save_png(image_grid(images, nrow), out / f"grid_seed{cfg.seed}.png")]
    if cfg.individual:
        written += save_individual(images, out, [f"{i:06d}.png" for i in range(cfg.n)])
    return written
