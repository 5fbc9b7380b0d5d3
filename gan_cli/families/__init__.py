"""Model families: one module per GAN family (its networks, phases and losses), each registering
itself; ``load_families`` imports them all. ``latent`` is the latent space the noise families share.
Imports data-free layers only: objectives, networks, device and the ground floor (metrics for the
translation scores)."""

from __future__ import annotations

import importlib
import pkgutil

from gan_cli.families.base import FAMILIES, MODEL_SCHEMAS, DataInfo, Family


def load_families() -> None:
    """Import every family module so its registration runs; adding a family is adding a module."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


__all__ = ["FAMILIES", "MODEL_SCHEMAS", "DataInfo", "Family", "load_families"]
