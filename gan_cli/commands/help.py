"""``--help`` for gan-train, gan-sample and gan-eval: what the program does, where its outputs go, and
its real options only, each key with its default and range read from its schema."""

from __future__ import annotations

import inspect
import re
from importlib import resources

from omegaconf import DictConfig, OmegaConf

from gan_cli.commands.compose import CONFIG_MODULE, compose_config
from gan_cli.commands.evaluate import OVERRIDABLE, EvalCommand
from gan_cli.commands.sample import SampleConfig, SampleMode
from gan_cli.config import GanLoss
from gan_cli.ranges import field_ranges

INTRODUCTION = """\
gan-train trains a GAN as configured and writes a dated run directory, by default
outputs/YYYY-MM-DD/HH-MM-SS/, holding checkpoints/ (last.pt, step_XXXXXXX.pt, best.pt), samples/ (a
sample grid every train.sample_every steps and progress.gif), tb/ (TensorBoard scalars; logger=
adds scalars.csv, MLflow or W&B), metrics.jsonl (sample scores), plots.png, summary.json and the
resolved config in .hydra/. Choose one option per group (logger= takes a list:
logger=[tensorboard,mlflow]) and set any key with key=value; -m sweeps comma-separated values
(gan-train -m optimizer.lr=1e-4,2e-4). Continue a run with resume=auto or resume=RUN_DIR, and draw
from a checkpoint with gan-sample ckpt=PATH."""

EXAMPLES = """\
  gan-train                                          DCGAN on MNIST (the default)
  gan-train model=cgan train.steps=5000              conditional GAN
  gan-train model=pix2pix data=fashion_edges         edge maps → Fashion-MNIST, paired
  gan-train model=cyclegan data=fashion_edges        the same task, unpaired
  gan-train model=pix2pix data=mnist_edges           outlines → MNIST digits, paired (no extra install)
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
    return describe_keys(node, f"{name}.")


def describe_keys(node: DictConfig, prefix: str = "") -> list[str]:
    """``key=default  what it does (allowed: range)`` for every key of a node; a required key shows
    its placeholder, e.g. ``ckpt=...``."""
    schema = OmegaConf.get_type(node)
    is_schema = inspect.isclass(schema) and schema is not dict
    comments = field_comments(schema) if is_schema else {}
    ranges = field_ranges(schema) if is_schema else {}
    values = OmegaConf.to_container(node, resolve=False, enum_to_str=True)
    lines = []
    for key in node:
        if not OmegaConf.is_missing(node, key) and isinstance(node[key], DictConfig):  # logger.mlflow.*: each tracker's keys
            lines.extend(describe_keys(node[key], f"{prefix}{key}."))
            continue
        value = "..." if OmegaConf.is_missing(node, key) else values[key]
        shown = f"{prefix}{key}={'null' if value is None else value}"
        allowed = f" (allowed: {ranges[key].describe().removeprefix('in ')})" if key in ranges else ""
        lines.append(f"  {shown:<44} {comments.get(key, '')}{allowed}".rstrip())
    return lines


def chosen_option(node: DictConfig):
    """A group's option now: its name (the device's type); for the logger group, every tracker turned on."""
    if "name" in node or "type" in node:
        return node.get("name", node.get("type"))
    return ",".join(key for key in node if node[key].get("enabled")) or "none"


def train_help(overrides: list[str]) -> str:
    cfg = compose_config(overrides)
    choices = {group: chosen_option(cfg[group]) for group in config_groups()}
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


SAMPLE_INTRODUCTION = """\
gan-sample draws images from a checkpoint alone (it carries its resolved config) and prints the path
of each figure it wrote, or, where it writes a file per image (individual=true, translation), the
folder, with a progress bar and a summary line on stderr. ckpt= takes a checkpoint file or a run directory, whose checkpoints/last.pt it uses (pass
.../checkpoints/best.pt for the best weights). Files go to out=, by default <run dir>/generated/; a
figure's name says what it shows: grid_seed0.png, grid_seed0_label3.png (one class of a conditional
model), grid_seed0_raw.png (ema=false: the raw G of a model.ema=true run). individual=true writes one
PNG per image instead of the grid, so out= holds only the samples, as FID tools and gan-eval images=
expect. Nothing half-written is ever left in out=."""

SAMPLE_EXAMPLES = """\
  gan-sample ckpt=outputs/2026-11-21/20-03-46              a grid from the run's last.pt
  gan-sample ckpt=.../checkpoints/best.pt n=1000 individual=true out=fid/ seed=1
  gan-sample ckpt=<cgan run> label=3                      one class: grid_seed0_label3.png
  gan-sample ckpt=... mode=interpolate seed=1 end_seed=7 steps=12
  gan-sample ckpt=<pix2pix run> input=edges/ target=truth/ out=items/"""

EVAL_INTRODUCTION = """\
gan-eval scores samples against real data and prints a table (or one JSON object with json=true):
FID, KID, precision, recall, density, coverage, and class accuracy for a cGAN. ckpt= takes a
checkpoint file or a run directory (its checkpoints/last.pt) and draws samples as training scores
them, with the checkpoint's own data and eval settings, so its figures match metrics.jsonl; a
pix2pix or CycleGAN checkpoint is scored on its held-out translations (L1, PSNR, SSIM, FID and
class accuracy in its domains' classifier features).
images=DIR scores a folder of images against the data you name. It writes nothing but the metrics
cache (~/.cache/gan-cli/metrics, or $GAN_CLI_CACHE)."""

EVAL_EXAMPLES = """\
  gan-eval ckpt=outputs/2026-11-22/15-10-02                the run's last.pt
  gan-eval ckpt=.../checkpoints/best.pt eval.num_samples=5000 data.split=test
  gan-eval images=fid/ data=mnist json=true                a folder from gan-sample individual=true
  gan-eval images=faces_out/ data=image_folder data.path=~/faces"""


def sample_help() -> str:
    return "\n\n".join(
        [
            "usage: gan-sample ckpt=PATH|RUN_DIR [key=value ...]",
            SAMPLE_INTRODUCTION,
            "Modes (mode=...):\n" + "\n".join(f"  {name:<12} {text}" for name, text in member_comments(SampleMode).items()),
            "Examples:\n" + SAMPLE_EXAMPLES,
            "Keys:\n" + "\n".join(describe_keys(OmegaConf.structured(SampleConfig))),
        ]
    )


def eval_help() -> str:
    defaults = compose_config([])
    overrides = [line for section in OVERRIDABLE if section != "data" for line in describe_section(section, defaults[section])]
    return "\n\n".join(
        [
            "usage: gan-eval ckpt=PATH|RUN_DIR | images=DIR [data=...] [data.KEY=...] [eval.KEY=...] [device.KEY=...]",
            EVAL_INTRODUCTION,
            "Examples:\n" + EVAL_EXAMPLES,
            "Keys:\n" + "\n".join(describe_keys(OmegaConf.structured(EvalCommand))),
            "gan-train's eval and device keys apply, with their defaults for a folder (a checkpoint brings its own):\n"
            + "\n".join(overrides),
            "The data keys are gan-train's for the chosen data= (gan-train data=mnist --help lists them).",
        ]
    )
