"""Resuming a run: finding its checkpoint, rebuilding its command line, and checking what changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from gan_cli.checkpoint import find_checkpoint, load_checkpoint, restore_rng_state, run_dir_of
from gan_cli.compose import compose_config, own_overrides
from gan_cli.errors import UserError

# Keys that may differ between a checkpoint and the resumed run: they change what happens next,
# not what the saved state means. Anything else (model sizes, data, batch size, seed) cannot apply.
SAFE_CHANGES = (
    "resume",
    "train.steps",
    "train.epochs",
    "train.log_every",
    "train.sample_every",
    "train.checkpoint_every",
    "train.keep_last",
    "train.nan_policy",
    "train.best_metric",
    "model.ema_half_life",  # the average's weights mean the same under any half-life
    "model.ema_decay",
    "model.ema_rampup",
    "optimizer.lr",
    "optimizer.lr_g",
    "optimizer.lr_d",
    "optimizer.schedule",
    "optimizer.decay_start",
    "eval.",
    "device.",
    "data.root",
    "data.download",
)


def override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def previous_overrides(run_dir: Path) -> list[str]:
    """The command-line overrides the run was started with, as Hydra recorded them."""
    recorded = run_dir / ".hydra" / "overrides.yaml"
    if not recorded.is_file():
        return []
    overrides = yaml.safe_load(recorded.read_text()) or []
    return [o for o in overrides if not override_key(o).startswith(("resume", "hydra"))]


def resume_arguments(args: list[str]) -> list[str]:
    """Rewrite gan-train's arguments to continue a run: its old overrides, then the new ones,
    with the run directory pinned so the resumed run writes where the original did."""
    spec = next(a.split("=", 1)[1] for a in args if override_key(a) == "resume")
    pinned = next((a.split("=", 1)[1] for a in args if override_key(a) == "hydra.run.dir"), None)
    checkpoint = find_checkpoint(spec, "resume", Path(pinned) if pinned else Path("outputs")).resolve()
    run_dir = run_dir_of(checkpoint)
    new = [a for a in args if override_key(a) not in ("resume", "hydra.run.dir")]
    new_keys = {override_key(a) for a in new}
    kept = [o for o in previous_overrides(run_dir) if override_key(o) not in new_keys]
    return [*kept, *new, f"resume={checkpoint}", f"hydra.run.dir={run_dir}"]


def check_resume(args: list[str]) -> None:
    """Before Hydra touches the run directory: the checkpoint must load and the config may only
    change where the change can apply, so a refused resume leaves the old run as it was."""
    checkpoint = Path(next(a.split("=", 1)[1] for a in args if override_key(a) == "resume"))
    payload = load_checkpoint(checkpoint)
    # Before composing too: the run's own model keys (e.g. model.g_hidden) may not exist in another family.
    check_family(payload["family"], next((a.split("=", 1)[1] for a in args if override_key(a) == "model"), payload["family"]), checkpoint)
    current = OmegaConf.to_container(compose_config(own_overrides(args)), resolve=True, enum_to_str=True)
    check_family(payload["family"], current["model"]["name"], checkpoint)
    check_changes(config_changes(payload["config"], current), checkpoint)


def check_family(saved: str, configured: str, checkpoint: Path) -> None:
    """Another family differs in every model key; naming the family says what the list of them would not."""
    if saved != configured:
        raise UserError(f"{checkpoint} is a {saved} run, not {configured}; resume with model={saved}, or start a new run without resume=")


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


NEWER_THAN_CHECKPOINT = "(not in the checkpoint)"  # a key added to gan-cli after the checkpoint was written


def config_changes(saved: dict[str, Any], current: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, saved value, current value) for every leaf that differs."""
    old, new = flatten(saved), flatten(current)
    return [
        (key, old.get(key, NEWER_THAN_CHECKPOINT), new.get(key))
        for key in sorted(old.keys() | new.keys())
        if old.get(key, NEWER_THAN_CHECKPOINT) != new.get(key)
    ]


def check_changes(changes: list[tuple[str, Any, Any]], checkpoint: Path) -> list[str]:
    """Refuse changes that cannot apply to the saved state; describe the safe ones."""
    # A setting newer than the checkpoint starts from here on: the run continues, if not exactly.
    unsafe = [c for c in changes if not c[0].startswith(SAFE_CHANGES) and c[1] != NEWER_THAN_CHECKPOINT]
    if unsafe:
        described = ", ".join(f"{key} ({old} in the checkpoint, {new} now)" for key, old, new in unsafe)
        raise UserError(f"cannot resume {checkpoint} with a changed {described}; drop those overrides or start a new run")
    return [f"{key}: {old} → {new}" for key, old, new in changes if key != "resume"]


def restore_run(run, payload: dict[str, Any]) -> None:
    """Put a built run back in the saved state, RNGs last so nothing after them draws a number."""
    for name, state in payload["networks"].items():
        run.family.networks[name].load_state_dict(state)
    for name, state in payload["optimizers"].items():
        run.optimizers[name].load_state_dict(state)
    if run.scaler is not None and payload.get("scaler"):
        run.scaler.load_state_dict(payload["scaler"])
    run.step = payload["step"]
    run.skipped_steps = payload.get("skipped_steps", 0)
    run.best = payload.get("best")
    run.stream.load_state_dict(payload["data"])
    run.family.load_state_dict(payload.get("family_state", {}))
    saved_grid = payload["grid"]["inputs"]
    if next(iter(saved_grid.values())).shape[0] == run.cfg.train.num_samples:
        run.grid.inputs = {k: v.to(run.runtime.device) for k, v in saved_grid.items()}
    restore_rng_state(payload["rng"])
