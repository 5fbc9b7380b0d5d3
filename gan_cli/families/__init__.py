"""Model families. Each module registers itself; ``load_families`` imports them all."""

from __future__ import annotations

import importlib
import pkgutil

from gan_cli.families.base import FAMILIES, MODEL_SCHEMAS, DataInfo, Family


def load_families() -> None:
    """Import every family module so its registration runs; adding a family is adding a module."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


__all__ = ["FAMILIES", "MODEL_SCHEMAS", "DataInfo", "Family", "load_families"]
