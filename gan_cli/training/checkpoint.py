"""Checkpoints as plain data: state dicts, tensors and built-in types, loaded with weights_only=True."""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_cli.errors import UserError

FORMAT = "gan-cli/1"


def find_checkpoint(spec: str, key: str, search_root: Path = Path("outputs")) -> Path:
    """What ``key=spec`` names: a checkpoint file, a run directory (its checkpoints/last.pt, the
    newest state; best.pt is passed as a file), or "auto", the newest last.pt under ``search_root``.
    gan-train's resume=, gan-sample's and gan-eval's ckpt= all resolve through here."""
    if spec == "auto":
        candidates = [p for p in search_root.glob("**/checkpoints/last.pt") if p.is_file()]
        if not candidates:
            raise UserError(f"{key}=auto found no checkpoints/last.pt under {search_root}; pass {key}=PATH to a checkpoint or run directory")
        return max(candidates, key=lambda p: p.stat().st_mtime)
    path = Path(spec).expanduser()
    if path.is_dir():
        return checkpoint_in(path, key)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}; pass {key}=PATH to a .pt file or a run directory written by gan-train")
    return path


def checkpoint_in(folder: Path, key: str) -> Path:
    """A run directory's checkpoints/last.pt (or a checkpoints/ folder's last.pt)."""
    for candidate in (folder / "checkpoints" / "last.pt", folder / "last.pt"):
        if candidate.is_file():
            return candidate
    others = sorted(folder.glob("checkpoints/*.pt")) or sorted(folder.glob("*.pt"))
    hint = f"pass one of its checkpoints, e.g. {key}={others[-1]}" if others else f"pass {key}=PATH to a run directory or a .pt file written by gan-train"
    raise UserError(f"{key}={folder} holds no checkpoints/last.pt; {hint}")


def run_dir_of(checkpoint: Path) -> Path:
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a gan-cli checkpoint onto the CPU; any other file is a one-line UserError."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}; pass ckpt=PATH to a .pt file written by gan-train")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "unsupported global" in str(error).lower():
            raise UserError(
                f"refusing to load {path}: it holds code or objects, not just weights; "
                "only load checkpoints written by gan-train"
            ) from None
        raise UserError(f"{path} is not a readable checkpoint ({first_line(error)}); pick another file") from None
    except Exception as error:  # torch raises many types for a file that is not a checkpoint
        raise UserError(
            f"{path} is not a readable checkpoint (truncated or not a torch file: {first_line(error)}); "
            "use another checkpoint, e.g. last.pt or an earlier step_XXXXXXX.pt"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{path} is a torch file but not a gan-cli checkpoint; pass one written by gan-train")
    return payload


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:160] if text else type(error).__name__


def capture_rng_state() -> dict[str, Any]:
    """Every RNG a training step may touch, in weights_only-loadable form."""
    numpy_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(numpy_state[1].astype(np.int64)),
            "pos": int(numpy_state[2]),
            "has_gauss": int(numpy_state[3]),
            "cached_gaussian": float(numpy_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    keys = numpy_state["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, numpy_state["pos"], numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
