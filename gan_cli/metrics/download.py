"""A file fetched over HTTP(S) whole and verified, or not at all.

The bytes stream into a hidden temporary file beside their destination while their SHA-256 is computed;
only a complete file with the expected digest is renamed into place. A refused or dropped connection,
a short body, an HTTP error, a wrong digest or a failed write removes the temporary file and raises
``DownloadFailed``, whose message says what went wrong; the caller adds where the file can come from
instead. Only the standard library talks to the network; rich draws the bar.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Optional

from rich.console import Console
from rich.filesize import decimal
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from gan_cli.errors import UserError, describe_os_error
from gan_cli.files import TEMPORARY_SUFFIX, sync_directory

# Per connection attempt and per read: an offline machine fails within this, a slow link still finishes.
TIMEOUT_S = 30.0
CHUNK_BYTES = 1 << 20
PLAIN_EVERY_S = 10.0  # how often a download reports where no bar is drawn


@dataclass(frozen=True)
class Download:
    """Where a file comes from and the SHA-256 it must have."""

    url: str
    sha256: str  # 64 lower-case hex digits
    timeout_s: float = TIMEOUT_S


class DownloadFailed(UserError):
    """The file did not arrive whole and right; nothing of it was kept."""


def fetch(download: Download, destination: Path, description: str) -> Path:
    """Download into a temporary file beside ``destination``, check its SHA-256, rename it into place."""
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=TEMPORARY_SUFFIX, dir=destination.parent)
    except OSError as error:
        raise DownloadFailed(f"cannot write into {destination.parent} ({describe_os_error(error)})") from None
    try:
        with os.fdopen(handle, "wb") as file:
            digest, size = stream(download, file, description)
            file.flush()
            os.fsync(file.fileno())
        if digest != download.sha256:
            raise DownloadFailed(f"the file from {download.url} has SHA-256 {digest}, not the expected {download.sha256}; nothing was kept")
        os.replace(temporary, destination)
    except OSError as error:  # the network's errors are DownloadFailed by now: this is the disk
        Path(temporary).unlink(missing_ok=True)
        raise DownloadFailed(f"cannot write into {destination.parent} ({describe_os_error(error)}); nothing was kept") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    sync_directory(destination.parent)
    announce(f"saved {destination} ({decimal(size)}, SHA-256 {digest[:12]}… as expected)")
    return destination


def stream(download: Download, file: BinaryIO, description: str) -> tuple[str, int]:
    """The response body into ``file``; returns its SHA-256 and its length."""
    response = open_url(download)
    with response:
        total = content_length(response)
        announce(f"{description}: {download.url} ({decimal(total) if total else 'size unknown'})")
        digest, received = hashlib.sha256(), 0
        with shown(description, total) as advance:
            while chunk := read_chunk(response, download.url, received, total):
                digest.update(chunk)
                file.write(chunk)
                received += len(chunk)
                advance(len(chunk))
    if total is not None and received != total:
        raise DownloadFailed(cut_short(download.url, received, total, "the server closed the connection"))
    return digest.hexdigest(), received


def open_url(download: Download) -> http.client.HTTPResponse:
    try:
        return urllib.request.urlopen(download.url, timeout=download.timeout_s)
    except urllib.error.HTTPError as error:
        raise DownloadFailed(f"{download.url} answered HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as error:
        raise DownloadFailed(f"cannot reach {download.url} ({network_reason(error, download.timeout_s)})") from None


def read_chunk(response: http.client.HTTPResponse, url: str, received: int, total: Optional[int]) -> bytes:
    try:
        return response.read(CHUNK_BYTES)
    except (OSError, http.client.HTTPException) as error:
        raise DownloadFailed(cut_short(url, received, total, network_reason(error, None))) from None


def content_length(response: http.client.HTTPResponse) -> Optional[int]:
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def cut_short(url: str, received: int, total: Optional[int], reason: str) -> str:
    of = f" of {decimal(total)}" if total is not None else ""
    return f"the download from {url} stopped after {decimal(received)}{of} ({reason}); nothing was kept, run again to retry"


def network_reason(error: BaseException, timeout_s: Optional[float]) -> str:
    """Why a connection failed, in a few words: "Connection refused", "timed out after 30 s"."""
    reason = getattr(error, "reason", error)  # URLError wraps the socket's error
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"timed out after {timeout_s:g} s" if timeout_s else "timed out"
    if isinstance(reason, OSError):
        return describe_os_error(reason)
    if isinstance(error, http.client.IncompleteRead):
        return "the server closed the connection"
    return str(reason) or type(reason).__name__


def announce(line: str) -> None:
    # Through sys.stderr, not a Console of our own: when another rich display holds the terminal
    # (gan-eval's spinner), sys.stderr is its proxy, which prints the line above it.
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def shown(description: str, total: Optional[int]) -> Iterator[Callable[[int], None]]:
    """``advance(bytes)``: a rich bar on stderr in a terminal; elsewhere a plain line every PLAIN_EVERY_S."""
    console = Console(stderr=True)
    if console.is_terminal and not hasattr(sys.stderr, "rich_proxied_file"):
        columns = (TextColumn(escape(description)), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda count: bar.advance(task, count)
        return
    received, reported = 0, time.monotonic()

    def advance(count: int) -> None:
        nonlocal received, reported
        received += count
        if time.monotonic() - reported >= PLAIN_EVERY_S:
            reported = time.monotonic()
            announce(f"{description}: {decimal(received)}" + (f" of {decimal(total)}" if total else ""))

    yield advance
