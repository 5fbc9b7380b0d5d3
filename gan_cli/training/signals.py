"""SIGINT and SIGTERM become a request to stop after the current step, with a checkpoint; a run
stopped before its first step leaves no empty run directory behind."""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
from pathlib import Path
from typing import Optional

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class TrainingInterrupted(Exception):
    """Raised by the loop once it has checkpointed after a stop signal."""

    def __init__(self, signum: int, step: int, checkpoint: Path):
        self.exit_code = EXIT_CODES.get(signum, 1)
        self.checkpoint = checkpoint
        name = signal.Signals(signum).name
        super().__init__(f"stopped by {name} after step {step}; saved {checkpoint}; continue with: gan-train resume={checkpoint}")


class StopRequests:
    """Context manager: records the first SIGINT/SIGTERM; a second SIGINT interrupts at once."""

    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():
            for signum in EXIT_CODES:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def clear_interrupted_run(run_dir: Path, job_log: str) -> str:
    """After a SIGINT that no checkpoint answered (during start-up, or a second Ctrl-C): remove the
    run directory if it holds only what Hydra wrote as the job began (``.hydra/`` and the job's
    log), since the run made nothing of value there. Anything else in it (a resumed run's
    checkpoints, the user's own files) keeps it as it is. Returns the line to report."""
    if holds_only_hydra_files(run_dir, job_log):
        with contextlib.suppress(OSError):
            shutil.rmtree(run_dir)
    if not run_dir.exists():
        return f"interrupted (SIGINT) during start-up; nothing was trained, and the run directory {run_dir}, which held nothing yet, was removed"
    return f"interrupted (SIGINT); {run_dir} holds what was written before, and nothing half-written"


def holds_only_hydra_files(run_dir: Path, job_log: str) -> bool:
    try:
        return {path.name for path in run_dir.iterdir()} <= {".hydra", job_log}
    except OSError:
        return False
