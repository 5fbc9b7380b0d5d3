"""resume= on gan-train's command line: finding the checkpoint, rebuilding the run's arguments, and
refusing a resume whose config cannot apply, before Hydra touches the run directory."""

from __future__ import annotations

from pathlib import Path

import yaml
from omegaconf import OmegaConf

from gan_cli.commands.compose import compose_config, override_key, own_overrides
from gan_cli.errors import UserError
from gan_cli.training.checkpoint import find_checkpoint, load_checkpoint, run_dir_of
from gan_cli.training.resume import check_changes, config_changes


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
