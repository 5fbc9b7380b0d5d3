"""Read and write IDX files, the format MNIST ships in, plain or gzip-compressed."""

from __future__ import annotations

import gzip
import math
import os
import uuid
import zlib
from pathlib import Path

import numpy as np

from gan_cli.errors import UserError

GZIP_MAGIC = b"\x1f\x8b"
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Return the array stored in the IDX file at `path` (gzip-compressed if it ends in .gz or starts gzipped)."""
    path = Path(path)
    content = _decompressed_bytes(path)
    dtype, shape, header_size = _parse_header(content, path)
    expected_size = header_size + math.prod(shape) * dtype.itemsize
    if len(content) != expected_size:
        raise UserError(
            f"IDX file {path} is {len(content)} bytes but its header declares {expected_size}: "
            "the file is truncated or corrupt; delete it and fetch or convert it again"
        )
    # astype copies: the result is writable (torch.from_numpy warns on read-only buffers) and in native byte order.
    return np.frombuffer(content, dtype=dtype, offset=header_size).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write `array` to `path` as an IDX file (gzip-compressed if `path` ends in .gz), atomically."""
    path = Path(path)
    content = _header(array) + np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">")).tobytes()
    if path.suffix == ".gz":
        content = gzip.compress(content, mtime=0)
    _write_atomically(path, content)


def _decompressed_bytes(path: Path) -> bytes:
    try:
        content = path.read_bytes()
    except OSError as error:
        raise UserError(f"cannot read IDX file {path} ({error}): check the path and its permissions") from error
    if path.suffix != ".gz" and not content.startswith(GZIP_MAGIC):
        return content
    try:
        return gzip.decompress(content)
    except (OSError, EOFError, zlib.error) as error:
        raise UserError(
            f"IDX file {path} is not valid gzip ({error}): the file is truncated or corrupt; "
            "delete it and fetch or convert it again"
        ) from error


def _parse_header(content: bytes, path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    if len(content) < 4 or content[0:2] != b"\x00\x00" or content[2] not in IDX_DTYPES:
        raise UserError(
            f"{path} is not an IDX file (bad magic number {content[:4].hex() or 'missing'}): "
            "replace it with the original MNIST-format file"
        )
    ndim = content[3]
    header_size = 4 + 4 * ndim
    if len(content) < header_size:
        raise UserError(f"IDX file {path} is truncated inside its header: delete it and fetch or convert it again")
    shape = tuple(int(size) for size in np.frombuffer(content, dtype=">u4", count=ndim, offset=4))
    return IDX_DTYPES[content[2]], shape, header_size


def _header(array: np.ndarray) -> bytes:
    dtype_code = next((code for code, dtype in IDX_DTYPES.items() if dtype == array.dtype.newbyteorder(">")), None)
    if dtype_code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    return bytes([0, 0, dtype_code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()


def _write_atomically(path: Path, content: bytes) -> None:
    # A temp file in the same folder plus os.replace means readers see either no file or the whole file.
    path.parent.mkdir(parents=True, exist_ok=True)
    temp_path = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    # os.open with 0o666 keeps the user's umask; tempfile.mkstemp would leave the data readable by its owner only.
    fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as temp_file:
            temp_file.write(content)
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.replace(temp_path, path)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
