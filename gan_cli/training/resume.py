"""Resuming a run: which config changes can apply to a saved state, and putting a built run back in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gan_cli.errors import UserError
from gan_cli.training.checkpoint import restore_rng_state

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
    "logger.",  # where scalars go besides the run directory; a tracker turned on later starts its run there
)


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
    run.tracker_ids = dict(payload.get("trackers", {}))
    run.stream.load_state_dict(payload["data"])
    run.family.load_state_dict(payload.get("family_state", {}))
    saved_grid = payload["grid"]["inputs"]
    if next(iter(saved_grid.values())).shape[0] == run.cfg.train.num_samples:
        run.grid.inputs = {k: v.to(run.runtime.device) for k, v in saved_grid.items()}
    restore_rng_state(payload["rng"])
