"""Files written whole or not at all: an atomic save, and a probe that a folder can be written."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

TEMPORARY_SUFFIX = ".tmp"


def atomic_save(payload: dict[str, Any], path: Path) -> None:
    """Write to a temporary file beside ``path``, fsync it, then rename over ``path``.

    A crash or a full disk mid-write leaves the previous file intact and no partial file behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except RuntimeError as error:
        Path(temporary).unlink(missing_ok=True)
        # torch's zip writer reports a failed write (a full disk) as a RuntimeError; surface the OSError.
        if isinstance(error.__context__, OSError):
            raise error.__context__ from None
        raise
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    sync_directory(path.parent)


def remove_stale_temporaries(folder: Path) -> None:
    """Delete half-written checkpoints left by a process killed mid-write (SIGKILL, power loss)."""
    for stale in folder.glob(f".*{TEMPORARY_SUFFIX}"):
        stale.unlink(missing_ok=True)


def sync_directory(folder: Path) -> None:
    """Make the rename itself durable."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def probe_writable(folder: Path) -> None:
    """Create the folder (and its missing parents) and a file in it, then remove all that was made."""
    created = []
    try:
        for path in [*reversed(folder.parents), folder]:
            if path.exists() and not path.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
            if not path.is_dir():
                path.mkdir()
                created.append(path)
        with tempfile.TemporaryFile(dir=folder):
            pass
    finally:
        for path in reversed(created):
            path.rmdir()
