"""Valid ranges declared beside each schema field, and the one check that enforces them all.

A field states its range where it is defined::

    nz: int = ranged(100, low=1, high=4096)  # latent size

so a new family's keys are range-checked by declaring them, with no check written by hand. The
check walks the composed config, so every group and every family is covered the same way.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import DictConfig, ListConfig, OmegaConf

from gan_cli.errors import UserError

RANGE_KEY = "gan_cli.range"


@dataclass(frozen=True)
class Range:
    """The values a numeric key (or each item of a list key) may take."""

    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False  # True: low itself is not allowed
    high_open: bool = False  # True: high itself is not allowed
    choices: tuple = ()  # when set, the only values allowed
    zero_means: str = ""  # when set, 0 is also allowed, with this meaning ("all", "automatic", ...)
    max_items: int = 0  # list keys: at most this many items (and at least one)
    example: Any = None  # a valid value for the error message, where the field's default is not one

    def admits(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.zero_means and value == 0:
            return True
        if self.choices:
            return value in self.choices
        if not math.isfinite(value):
            return False
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def describe(self) -> str:
        """The range in words, as the error message and --help show it."""
        if self.choices:
            text = " or ".join(str(c) for c in self.choices)
        elif self.low is not None and self.high is not None:
            text = f"in {'(' if self.low_open else '['}{number(self.low)}, {number(self.high)}{')' if self.high_open else ']'}"
        elif self.low is not None:
            text = f"{'above' if self.low_open else 'at least'} {number(self.low)}"
        else:
            text = f"{'below' if self.high_open else 'at most'} {number(self.high)}"
        return f"0 ({self.zero_means}) or {text}" if self.zero_means else text


def number(value: float) -> str:
    """A bound as a person writes it: 1e9 rather than 1000000000."""
    if isinstance(value, int) and value >= 100_000 and value == 10 ** round(math.log10(value)):
        return f"1e{round(math.log10(value))}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def ranged(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING, **bounds: Any) -> Any:
    """A dataclass field whose value must lie in ``Range(**bounds)``; see the module docstring."""
    metadata = {RANGE_KEY: Range(**bounds)}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def field_ranges(schema: type) -> dict[str, Range]:
    """Each ranged field of a schema by name. A subclass that only changes a field's default keeps
    the range its base declared (a family's image_size, for example)."""
    ranges: dict[str, Range] = {}
    for cls in reversed(schema.__mro__):
        if dataclasses.is_dataclass(cls):
            ranges |= {f.name: f.metadata[RANGE_KEY] for f in dataclasses.fields(cls) if RANGE_KEY in f.metadata}
    return ranges


def check_ranges(node: DictConfig, prefix: str = "") -> None:
    """Raise a UserError for the first key, anywhere under ``node``, whose value is out of its range."""
    schema = OmegaConf.get_type(node)
    ranges = field_ranges(schema) if isinstance(schema, type) else {}
    for name, allowed in ranges.items():
        check_value(f"{prefix}{name}", node[name], allowed, default_of(schema, name))
    for key in node:
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
            check_ranges(child, f"{prefix}{key}.")


def check_value(key: str, value: Any, allowed: Range, default: Any) -> None:
    if value is None:  # an Optional key left unset
        return
    if isinstance(value, ListConfig):
        check_items(key, list(value), allowed, default)
    elif not allowed.admits(value):
        raise UserError(f"{key}={value} must be {allowed.describe()}; e.g. {key}={valid_example(allowed, default)}")


def check_items(key: str, items: list, allowed: Range, default: Any) -> None:
    shown = f"{key}=[{','.join(map(str, items))}]"
    example = f"{key}=[{','.join(map(str, default))}]" if isinstance(default, list) else f"{key}=[256,256]"
    if not items or (allowed.max_items and len(items) > allowed.max_items):
        raise UserError(f"{shown} must have 1 to {allowed.max_items} values; e.g. {example}")
    bad = next((item for item in items if not allowed.admits(item)), None)
    if bad is not None:
        raise UserError(f"{shown}: each value must be {allowed.describe()}, not {bad}; e.g. {example}")


def valid_example(allowed: Range, default: Any) -> Any:
    candidates = (allowed.example, default, allowed.low, allowed.high, *allowed.choices)
    return next((value for value in candidates if allowed.admits(value)), allowed.describe())


def default_of(schema: type, name: str) -> Any:
    for f in dataclasses.fields(schema):
        if f.name == name:
            return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    return None
