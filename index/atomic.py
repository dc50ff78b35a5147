"""Atomic file replacement: a reader sees the old file or the new one whole, never a half-written one.

The new content goes to a temporary file beside the target (same directory, so the rename stays on one
file system), is fsynced, then renamed over the target with `os.replace`. On any failure before the
rename, KeyboardInterrupt included, the temporary file is removed and the target is left as it was.

    atomic_write(path, "text")                 # the whole content at once (str or bytes)
    with atomic_file(path, "wb") as handle:    # streamed; raise in the block to keep the old file
        handle.write(block)
    with atomic_path(path) as temporary:       # for a library that writes to a file name itself
        library.save(str(temporary))

Temporary files are named `.{target name}.{random}.tmp`: hidden, and never mistaken for the target.
Only SIGKILL or a power cut can leave one behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def _reserve(target: Path, permissions: int) -> tuple[int, Path]:
    """A new, empty temporary file beside `target`, created with `permissions` (less the umask)."""
    while True:
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(temporary, _FLAGS, permissions), temporary
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue


def _discard(temporary: Path) -> None:
    with contextlib.suppress(OSError):  # the error on its way out matters more than this one
        temporary.unlink(missing_ok=True)


def fsync_path(path: Path) -> None:
    """fsync a file, or a directory so that a rename inside it survives a power cut."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def atomic_path(target: Path, *, permissions: int = 0o666, durable_rename: bool = False) -> Iterator[Path]:
    """A temporary path beside `target`, created empty, for a writer that opens files by name; what it
    holds when the block ends is fsynced and replaces `target`. `durable_rename` also fsyncs the
    directory after the rename."""
    target = Path(target)
    descriptor, temporary = _reserve(target, permissions)
    os.close(descriptor)
    try:
        yield temporary
        fsync_path(temporary)
        os.replace(temporary, target)
    except BaseException:
        _discard(temporary)
        raise
    if durable_rename:
        fsync_path(target.parent)


@contextmanager
def atomic_file(
    target: Path,
    mode: str = "wb",
    *,
    encoding: str | None = None,
    permissions: int = 0o666,
    durable_rename: bool = False,
) -> Iterator[IO[Any]]:
    """An open temporary file beside `target` ("w" for text, "wb" for bytes); when the block ends
    without an exception it is closed and, through `atomic_path`, fsynced and renamed over `target`."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_file writes a new file: mode must be 'w' or 'wb', got {mode!r}")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    with (
        atomic_path(target, permissions=permissions, durable_rename=durable_rename) as temporary,
        open(temporary, mode, encoding=encoding) as handle,
    ):
        yield handle


def atomic_write(
    target: Path,
    data: str | bytes,
    *,
    encoding: str = "utf-8",
    permissions: int = 0o666,
    durable_rename: bool = False,
) -> None:
    """Replace `target` with `data` (text is encoded with `encoding`)."""
    payload = data.encode(encoding) if isinstance(data, str) else data
    with atomic_file(target, "wb", permissions=permissions, durable_rename=durable_rename) as handle:
        handle.write(payload)
