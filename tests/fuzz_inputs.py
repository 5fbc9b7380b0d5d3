"""A seeded generator of command-line inputs for the fuzz tests: every key of every group, drawn as
valid, boundary, wrong-typed, zero, negative and huge values, plus unknown keys and options and
malformed override syntax.

The key space is read from the composed configs and the schemas' declared ranges, so a new key or a
new family is fuzzed without touching this file.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import DictConfig, ListConfig, OmegaConf

from gan_cli.commands.compose import compose_config
from gan_cli.commands.help import config_groups
from gan_cli.ranges import Range, field_ranges

HUGE_INTS = (10**6, 2**31, 2**63, 10**30)
WRONG_TYPES = ("abc", "1.5", "true", "[1,2]", "{a: 1}", "null", "''", "1e400", "0x10", "😀")
MALFORMED = (
    "train.steps", "=3", "train.steps==3", "train.steps=[", "train.steps=]", "model=", "=", "train..steps=3",
    "train.steps=${nope}", "train.steps=${oc.env:GAN_CLI_FUZZ_UNSET}", "train.steps='3", 'model.nz="', "~train",
    "++", "train.steps=1,2", "model=dcgan,gan", "train.steps=range(1,3)", "train.steps=choice(1,2)", "-x", "--nope",
    "train steps=3", "hydra.run.dir=", "hydra.run.dir=/proc/fuzz", "hydra.run.dir=/etc/passwd/run",
    "hydra.sweep.dir=/proc/fuzz", "hydra.nope=1", "hydra/launcher=nope", "+train.extra=1", "+model.extra=[1]",
)
PATHS = ("", "/nonexistent/fuzz", "/proc", "/etc/passwd", ".", "~", "a b", "../x", "/dev/null")


@dataclass(frozen=True)
class Key:
    """One leaf of the composed config: its dotted name, its node type and what the schema allows."""

    name: str
    kind: str  # int, float, bool, str, enum, list
    optional: bool
    default: Any
    allowed: Optional[Range] = None
    options: tuple[str, ...] = ()  # enum members


def config_keys(cfg: DictConfig, prefix: str = "") -> list[Key]:
    """Every leaf key of ``cfg``, recursively, with its type and declared range."""
    ranges = field_ranges(OmegaConf.get_type(cfg)) if isinstance(OmegaConf.get_type(cfg), type) else {}
    keys = []
    for name in cfg:
        node = cfg._get_node(name)
        if isinstance(node, DictConfig):
            keys.extend(config_keys(node, f"{prefix}{name}."))
            continue
        kind = leaf_kind(node)
        enum = getattr(node, "enum_type", None)
        options = tuple(member.name for member in enum) if enum else ()
        value = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)[name]
        keys.append(Key(f"{prefix}{name}", kind, bool(node._is_optional()), value, ranges.get(name), options))
    return keys


def leaf_kind(node) -> str:
    if isinstance(node, ListConfig):
        return "list"
    names = {"IntegerNode": "int", "FloatNode": "float", "BooleanNode": "bool", "EnumNode": "enum"}
    return names.get(type(node).__name__, "str")


def schema_keys(schema: type) -> list[Key]:
    """The keys of a plain key=value schema (gan-sample's), as config_keys reads them."""
    return config_keys(OmegaConf.structured(schema))


class InputFuzzer:
    """Draws overrides for one family's command line; every draw is a function of the seed alone."""

    def __init__(self, keys: list[Key], seed: int, group_options: dict[str, list[str]] | None = None):
        self.keys = keys
        self.random = random.Random(seed)
        self.group_options = group_options or {}

    def overrides(self, count: int) -> list[str]:
        return [self.override() for _ in range(count)]

    def override(self) -> str:
        draw = self.random.random()
        if draw < 0.06 and self.group_options:
            return self.group_choice()
        if draw < 0.10:
            return self.random.choice(MALFORMED)
        if draw < 0.14:
            key = self.random.choice(self.keys).name
            return f"{key}{self.random.choice(('z', '_x', '.nope'))}={self.random.choice(('1', 'x'))}"
        key = self.random.choice(self.keys)
        return f"{key.name}={self.value(key)}"

    def group_choice(self) -> str:
        group = self.random.choice(sorted(self.group_options))
        options = self.group_options[group]
        return f"{group}={self.random.choice([*options, 'nope', options[0].upper()])}"

    def value(self, key: Key) -> str:
        draw = self.random.random()
        if draw < 0.12:
            return self.random.choice(WRONG_TYPES)
        if draw < 0.17 and key.optional:
            return "null"
        drawers = {"int": self.number, "float": self.number, "bool": self.boolean, "enum": self.enum, "list": self.list_value}
        return drawers.get(key.kind, self.string)(key)

    def number(self, key: Key) -> str:
        allowed = key.allowed or Range()
        low = allowed.low if allowed.low is not None else -10
        high = allowed.high if allowed.high is not None else 10**9
        candidates = [low, high, 0, -1, *HUGE_INTS, -(10**9)]
        if key.kind == "float":
            candidates += [low - 1e-9, high + 1e-9, "nan", "inf", "-inf", "1e308", "-0.0", 0.5]
        else:
            candidates += [low - 1, high + 1, 1, 2]
        if self.random.random() < 0.5:
            return str(self.valid_number(key, low, high))
        return str(self.random.choice(candidates))

    def valid_number(self, key: Key, low: float, high: float) -> float | int:
        """A value in range and near the default, so accepted inputs stay cheap to train."""
        default = key.default if isinstance(key.default, (int, float)) and key.default else max(low, 1)
        top = min(high, max(default * 2, low + 4))
        if key.kind == "int":
            return self.random.randint(int(low), int(max(low, top)))
        return round(self.random.uniform(low, top), 6)

    def boolean(self, key: Key) -> str:
        return self.random.choice(("true", "false", "True", "yes", "no", "2", "on"))

    def enum(self, key: Key) -> str:
        return self.random.choice([*key.options, *key.options, "nope", "1", key.options[0].upper()])

    def list_value(self, key: Key) -> str:
        widths = [self.random.choice((1, 8, 16, 32, 0, -4, 10**6, 10**12)) for _ in range(self.random.randint(0, 10))]
        return self.random.choice((f"[{','.join(map(str, widths))}]", "[16]", "[8,8]", "[]", "[abc]", "16", "[[1]]"))

    def string(self, key: Key) -> str:
        return self.random.choice((*PATHS, "nope", "train", "test", "auto", "x" * 300))


def family_keys(base: list[str]) -> list[Key]:
    """The keys of gan-train's config as composed with ``base``, hydra's aside."""
    return config_keys(compose_config(base))


def train_fuzzer(base: list[str], seed: int) -> InputFuzzer:
    return InputFuzzer(family_keys(base), seed, config_groups())

