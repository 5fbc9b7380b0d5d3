"""``gan-train --help``: what the program does, where its outputs go, and the real options only."""

from __future__ import annotations

import inspect
import re
from importlib import resources

from omegaconf import DictConfig, OmegaConf

from gan_cli.compose import CONFIG_MODULE, compose_config
from gan_cli.config import GanLoss
from gan_cli.ranges import field_ranges

INTRODUCTION = """\
gan-train trains a GAN as configured and writes a dated run directory, by default
outputs/YYYY-MM-DD/HH-MM-SS/, holding checkpoints/ (last.pt, step_XXXXXXX.pt, best.pt), samples/ (a
sample grid every train.sample_every steps and progress.gif), tb/ (TensorBoard scalars),
metrics.jsonl (sample scores), plots.png, summary.json and the resolved config in .hydra/. Choose
one option per group and set any key with key=value; -m sweeps comma-separated values
(gan-train -m optimizer.lr=1e-4,2e-4). Continue a run with resume=auto or resume=RUN_DIR, and draw
from a checkpoint with gan-sample ckpt=PATH."""

EXAMPLES = """\
  gan-train                                          DCGAN on MNIST (the default)
  gan-train model=cgan train.steps=5000              conditional GAN
  gan-train model=pix2pix data=fashion_edges         edge maps → Fashion-MNIST, paired
  gan-train model=cyclegan data=fashion_edges        the same task, unpaired
  gan-train model=pix2pix data=paired_folder data.path=~/facades model.image_size=256
  gan-train --cfg job                                print the composed config and stop"""


def config_groups() -> dict[str, list[str]]:
    """Each group and its options, as shipped in the package (schema entries are internal)."""
    groups = {}
    for entry in sorted(resources.files(CONFIG_MODULE).iterdir(), key=lambda e: e.name):
        if entry.is_dir() and not entry.name.startswith("_") and entry.name != "hydra":  # hydra/: presets of Hydra's own groups
            names = sorted(e.name[: -len(".yaml")] for e in entry.iterdir() if e.name.endswith(".yaml"))
            groups[entry.name] = names
    return groups


FIELD_COMMENT = re.compile(r"^\s+(\w+):[^#]*#\s*(.+)$")
MEMBER_COMMENT = re.compile(r"^\s+(\w+) = [^#]*#\s*(.+)$")


def member_comments(enum: type) -> dict[str, str]:
    """The comment beside each member in an Enum's source: what the choice does and when to use it."""
    return {m.group(1): m.group(2) for m in map(MEMBER_COMMENT.match, inspect.getsource(enum).splitlines()) if m}


def field_comments(schema: type) -> dict[str, str]:
    """The comment beside each field in a schema's source (and its bases'), where it documents the key."""
    comments: dict[str, str] = {}
    for cls in reversed([c for c in inspect.getmro(schema) if c is not object]):
        for line in inspect.getsource(cls).splitlines():
            match = FIELD_COMMENT.match(line)
            if match:
                comments[match.group(1)] = match.group(2)
    return comments


def describe_section(name: str, node: DictConfig) -> list[str]:
    """``section.key=value  # what it does`` for every key of one section."""
    schema = OmegaConf.get_type(node)
    is_schema = inspect.isclass(schema) and schema is not dict
    comments = field_comments(schema) if is_schema else {}
    ranges = field_ranges(schema) if is_schema else {}
    lines = []
    for key in node:
        value = OmegaConf.to_container(node, resolve=False, enum_to_str=True)[key]
        shown = f"{name}.{key}={'null' if value is None else value}"
        allowed = f" (allowed: {ranges[key].describe().removeprefix('in ')})" if key in ranges else ""
        lines.append(f"  {shown:<44} {comments.get(key, '')}{allowed}".rstrip())
    return lines


def train_help(overrides: list[str]) -> str:
    cfg = compose_config(overrides)
    choices = {group: cfg[group].get("name", cfg[group].get("type")) for group in config_groups()}
    group_lines = [
        f"  {group:<10} {', '.join(options)}   (now: {getattr(choices[group], 'value', choices[group])})"
        for group, options in config_groups().items()
    ]
    keys = [line for section in cfg if isinstance(cfg[section], DictConfig) for line in describe_section(section, cfg[section])]
    return "\n\n".join(
        [
            "usage: gan-train [-m] [group=option ...] [key=value ...]",
            INTRODUCTION,
            "Groups:\n" + "\n".join(group_lines),
            "Losses (loss=...):\n" + "\n".join(f"  {name:<15} {text}" for name, text in member_comments(GanLoss).items()),
            "Examples:\n" + EXAMPLES,
            "Keys, with their values for this choice of groups (gan-train model=pix2pix --help shows pix2pix's):\n"
            + "\n".join(keys),
        ]
    )
