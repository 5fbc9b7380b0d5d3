"""SIGINT and SIGTERM become a request to stop after the current step, with a checkpoint."""

from __future__ import annotations

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
