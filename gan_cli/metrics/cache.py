"""Files cached across runs (a trained classifier, real-image features), each with a SHA-256 checksum
beside it that is checked on every load: a truncated or edited file is rebuilt, never trusted."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional

import torch

from gan_cli.errors import UserError, describe_os_error
from gan_cli.files import atomic_save


def key_digest(parts: dict[str, Any]) -> str:
    """A short stable name for everything a cached file depends on."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def file_checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_verified(path: Path) -> Optional[dict[str, Any]]:
    """The cached payload, or None when it is missing or its checksum does not match."""
    checksum = path.with_suffix(".sha256")
    if not (path.is_file() and checksum.is_file()):
        return None
    if checksum.read_text().strip() != file_checksum(path):
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def save_verified(payload: dict[str, Any], path: Path) -> None:
    try:
        atomic_save(payload, path)
        path.with_suffix(".sha256").write_text(file_checksum(path) + "\n")
    except OSError as error:
        raise UserError(
            f"cannot write the metrics cache {path} ({describe_os_error(error)}); set eval.cache_dir to a writable folder"
        ) from None
