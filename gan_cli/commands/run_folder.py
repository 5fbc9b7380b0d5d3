"""A folder of its own for every run, claimed before Hydra writes into it.

Hydra's default run folder names the second a run started, and Hydra creates it with
``exist_ok=True``: two runs started in the same second would write into one folder. gan-train claims
the folder itself, with a create that fails when the name exists (``os.mkdir``, atomic on local and
network file systems), and takes the next free name (``12-30-05``, ``12-30-05_02``, ...), which sorts
by start time. A folder given explicitly is refused when it holds another run's checkpoints (resume=
continues that run) or when another gan-train is writing it now; the claim holds an advisory lock on
the folder for as long as the run lasts, so that no second run or resume can write into it meanwhile.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from gan_cli.commands.compose import hydra_quoted, output_folder, override_key
from gan_cli.commands.preflight import parse_hydra_arguments
from gan_cli.errors import UserError, describe_os_error

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the atomic create still keeps runs apart
    fcntl = None

MAX_SAME_NAME = 10_000
PLAIN_PATH = re.compile(r"[\w/][\w/.+@%-]*")
CHECKPOINT_PATTERNS = ("checkpoints/*.pt", "*/checkpoints/*.pt")  # a run's own, and a sweep's jobs'


@dataclass
class ClaimedFolder:
    """The arguments to hand Hydra (the folder pinned) and the lock held while the run lasts."""

    args: list[str]
    folder: Path
    created: bool  # made by this claim, so removed again if nothing was ever written into it
    lock: Optional[int] = field(default=None, repr=False)

    def release(self) -> None:
        if self.lock is not None:
            os.close(self.lock)  # closing the descriptor releases its lock
            self.lock = None
        if self.created:
            with contextlib.suppress(OSError):  # only an empty folder: rmdir refuses any other
                self.folder.rmdir()


@contextlib.contextmanager
def run_folder(args: list[str], multirun: bool) -> Iterator[ClaimedFolder]:
    """Claim the run's (or sweep's) folder for as long as the block runs; see the module's docstring."""
    claimed = claim_run_folder(args, multirun)
    try:
        yield claimed
    finally:
        claimed.release()


def claim_run_folder(args: list[str], multirun: bool) -> ClaimedFolder:
    overrides = parse_hydra_arguments(args).overrides  # without Hydra's flags (-m, --config-dir DIR, ...)
    key, named = output_folder(overrides, multirun)
    folder = Path(named)
    resuming = any(override_key(o) == "resume" for o in overrides)
    given = any(override_key(o) == key for o in overrides)
    try:
        if given:
            return claim_given_folder(args, folder, key, resuming)
        claimed = claim_fresh_folder(folder)
    except OSError as error:
        raise UserError(f"cannot create the output folder {folder} ({describe_os_error(error)}); set {key}=DIR to a writable folder") from None
    claimed_args = [*args, f"{key}={override_value(claimed)}"]
    return ClaimedFolder(claimed_args, claimed, created=True, lock=lock_folder(claimed, key))


def override_value(path: Path) -> str:
    """The path as a value of Hydra's override grammar: as itself when the grammar reads it so, else quoted."""
    return str(path) if PLAIN_PATH.fullmatch(str(path)) else hydra_quoted(str(path))


def claim_fresh_folder(base: Path) -> Path:
    """``base``, or the first of ``base_02``, ``base_03``, ... that no one has made yet."""
    base.parent.mkdir(parents=True, exist_ok=True)
    for number in range(1, MAX_SAME_NAME):
        candidate = base if number == 1 else base.with_name(f"{base.name}_{number:02d}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise UserError(f"{MAX_SAME_NAME} runs already hold the names {base}_NN; clear out old runs or set hydra.run.dir=DIR")


def claim_given_folder(args: list[str], folder: Path, key: str, resuming: bool) -> ClaimedFolder:
    """A folder named on the command line: used as given, unless a run is writing it now or, short of
    a resume, another run's checkpoints are there."""
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    claimed = ClaimedFolder(args, folder, created=created, lock=lock_folder(folder, key))
    held = None if resuming else next((path for pattern in CHECKPOINT_PATTERNS for path in sorted(folder.glob(pattern))), None)
    if held is not None:
        claimed.release()
        raise UserError(
            f"{key}={folder} already holds another run's checkpoints ({held.relative_to(folder)}); "
            f"continue that run with resume={folder}, or pick a new {key} (or drop it for a fresh dated folder)"
        )
    return claimed


def lock_folder(folder: Path, key: str) -> Optional[int]:
    """An exclusive advisory lock on the folder itself, held by this process until release().

    Where the file system has no locks (some network mounts), runs are still kept apart by the
    atomic create, and an explicit folder by the checkpoint check; so no lock is no error.
    """
    if fcntl is None:
        return None
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return descriptor
    except OSError as error:
        os.close(descriptor)
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise UserError(
                f"{key}={folder} is in use by another gan-train running now; wait for it to finish, or pick another {key}"
            ) from None
        return None
