"""Writes that need not hold up training: sample grids and checkpoints are encoded, serialised and
synced to disk on one worker thread, in the order they were asked for, while the next steps run.

On a GPU a step takes milliseconds and a grid's PNG or a checkpoint's fsync tens of them, so writing
inline would stall the device; the training thread hands over data it will not touch again (a grid
already on the CPU, a checkpoint copied off the live tensors) and goes on.
"""

from __future__ import annotations

import os
import threading
import weakref
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Optional

import torch

Failure = tuple[str, BaseException]  # what was being written, and the error its write raised
THREAD_NAME = "gan-cli-writes"


def has_spare_cores(device: torch.device) -> bool:
    """Whether a writer thread would run beside training instead of taking a core from it. Training
    on the CPU with a thread per core, a run with a writer thread took longer than writing inline
    (README, Speed); a GPU run, or one with fewer threads than cores, leaves cores idle."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return device.type != "cpu" or torch.get_num_threads() < cores


class BackgroundWriter:
    """Runs write jobs in order, on one worker thread when ``threaded``, else at once on the caller's.
    A job's error is not raised where it ran: ``settle`` hands it to the training thread, which
    reports it, the same way in both modes."""

    def __init__(self, threaded: bool):
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=THREAD_NAME) if threaded else None
        self._pending: list[tuple[str, Future]] = []
        if threaded:
            LIVE_WRITERS.add(self)

    def submit(self, what: str, write: Callable[[], Any]) -> None:
        """Queue ``write``; ``what`` names it in an error line ("a sample grid", "a checkpoint")."""
        self._pending.append((what, self._executor.submit(write) if self._executor else run_now(write)))

    def settle(self, wait_for_all: bool) -> Optional[Failure]:
        """The first failed write, if any, once every queued write has finished (so that what is on
        disk is settled when the failure is reported); without ``wait_for_all`` it waits only when a
        write already done has failed."""
        if wait_for_all or any(future.done() and future.exception() for _, future in self._pending):
            self.wait_idle()
        finished = [(what, future) for what, future in self._pending if future.done()]
        self._pending = [(what, future) for what, future in self._pending if not future.done()]
        return next(((what, future.exception()) for what, future in finished if future.exception()), None)

    def wait_idle(self) -> None:
        """Wait until no write is running or queued, leaving any failure for ``settle``."""
        wait([future for _, future in list(self._pending)])

    def close(self) -> None:
        """Finish the queued writes and stop the thread."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)


# A process forked while the writer thread holds a lock (an import's, the allocator's) inherits the
# lock held, and hangs at its first use: DataLoader workers forked during a grid's PNG write hung in
# PIL's plugin import. So a fork from any other thread first waits for the queued writes.
LIVE_WRITERS: "weakref.WeakSet[BackgroundWriter]" = weakref.WeakSet()


def finish_writes_before_fork() -> None:
    if threading.current_thread().name.startswith(THREAD_NAME):
        return  # a write that forks would wait for itself
    for writer in list(LIVE_WRITERS):
        writer.wait_idle()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=finish_writes_before_fork)


def run_now(write: Callable[[], Any]) -> Future:
    """``write`` run on this thread, its outcome held as a finished future."""
    future: Future = Future()
    try:
        future.set_result(write())
    except Exception as error:  # handed to settle, as the worker thread's would be
        future.set_exception(error)
    return future


def detached_copy(value: Any) -> Any:
    """``value`` with every tensor copied to the CPU: a snapshot that training can no longer change."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: detached_copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(detached_copy(item) for item in value)
    return value
