"""gan-sample's out= folder: checked before any work, written whole or not at all.

A mode writes into a hidden staging folder inside out=; only once every file is written do they move
into out=, each by a rename on the same disk. A full disk, a write error or Ctrl-C therefore leaves
neither a half-written file nor an earlier file replaced by a partial one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from gan_cli.data.image_folder import list_images
from gan_cli.errors import UserError, describe_os_error
from gan_cli.files import probe_writable

STAGING_PREFIX = ".gan-sample-"


def check_output_folder(out: Path, defaulted: bool) -> None:
    """out= must be a folder this process can create and write, checked before any image is drawn."""
    fix = (
        "the default out= is the run directory's generated/; pass out=DIR to a writable folder"
        if defaulted
        else "pass out=DIR to a writable folder"
    )
    try:
        probe_writable(out)
    except OSError as error:
        raise UserError(f"cannot write the output folder {out} ({describe_os_error(error)}); {fix}") from None


def check_holds_only(out: Path, staging: Path, written: list[Path]) -> None:
    """A folder of individual images is read whole by FID tools (and gan-eval images=), so images of
    an earlier call left beside the new ones would be counted with them."""
    ours = {p.relative_to(staging) for p in written}
    others = [p for p in list_images(out) if not p.is_relative_to(staging) and p.relative_to(out) not in ours]
    if others:
        raise UserError(
            f"out={out} already holds {len(others)} other image(s), e.g. {others[0].name}, that would be counted "
            "with these samples; pass out= a new or empty folder, or remove them"
        )


@contextlib.contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A fresh hidden folder inside ``out`` to write into; removed on the way out, whatever happens."""
    missing = [p for p in [*reversed(out.parents), out] if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
    except OSError as error:
        raise write_failure(out, error) from None
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in reversed(missing):  # made for this call: an error leaves no empty out= behind
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)


def publish(written: list[Path], staging: Path, out: Path) -> list[Path]:
    """Move the staged files to the same relative paths in ``out``; returns their new paths."""
    placed = []
    for path in written:
        target = out / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        placed.append(target)
    return placed


def write_failure(out: Path, error: OSError) -> UserError:
    reason = error.strerror or str(error)
    return UserError(f"cannot write into {out} ({reason}); nothing half-written was left there. Free disk space, or pass out=DIR on another disk")
