"""Uploaded files (POST /api/files): each saved into a fresh folder under the upload directory, by a
name that cannot leave that folder, within the size and count limits; then ingested by path."""

from __future__ import annotations

import re
import secrets
import shutil
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from index.loaders import SUPPORTED_SUFFIXES, supported_suffix
from newsdesk_app.server.errors import FieldError

MAX_NAME_CHARS = 120
_COPY_BLOCK = 1024 * 1024
_UNSAFE = re.compile(r'[<>:"|?*]')
# Controls, format characters (a right-to-left override can disguise "txt.exe" as "exe.txt"),
# surrogates, private use, unassigned, and line or paragraph separators.
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


class Upload(Protocol):
    """What FastAPI's UploadFile gives: the client's file name and the spooled content."""

    filename: str | None
    file: BinaryIO


def upload_root(index_dir: Path, configured: str | None) -> Path:
    """NEWSDESK_UPLOAD_DIR, or a folder beside the index named after it."""
    return Path(configured) if configured else index_dir.with_name(f"{index_dir.name}-uploads")


def safe_file_name(name: str) -> str:
    """The last part of a client's file name with nothing that could lead out of a folder: no
    separators of either kind, no drive, no leading dots ('..', hidden files), no control characters.
    Long names are shortened, keeping the suffix. An empty result means the name had nothing usable."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", name))[-1]
    base = "".join(
        " " if unicodedata.category(ch) == "Zs" else ch
        for ch in base
        if unicodedata.category(ch) not in _UNSAFE_CATEGORIES
    )
    base = _UNSAFE.sub("", base).strip().lstrip(".").strip()
    if len(base) > MAX_NAME_CHARS:
        suffix = supported_suffix(base) or ""
        base = base[: MAX_NAME_CHARS - len(suffix)] + suffix
    return base


def _checked_names(uploads: Sequence[Upload], max_files: int) -> list[str]:
    if not uploads:
        raise FieldError(422, "files", "no file was sent")
    if len(uploads) > max_files:
        raise FieldError(
            413, "files", f"{len(uploads)} files is over the limit of {max_files} (NEWSDESK_MAX_UPLOAD_FILES)"
        )
    names: list[str] = []
    taken: set[str] = set()
    for upload in uploads:
        given = upload.filename or ""
        name = safe_file_name(given)
        if not name:
            raise FieldError(422, "files", f"the file name {given!r} has no usable characters")
        if supported_suffix(name) is None:
            kinds = ", ".join(SUPPORTED_SUFFIXES)
            raise FieldError(415, "files", f"{given!r} is not a supported kind of file ({kinds})")
        stem, count = name, 2
        while name.lower() in taken:  # two files of one name both arrive
            suffix = supported_suffix(stem) or ""
            name = f"{stem[: len(stem) - len(suffix)]}-{count}{suffix}"
            count += 1
        names.append(name)
        taken.add(name.lower())
    return names


def _copy_within(source: BinaryIO, target: Path, limit: int, given: str) -> None:
    written = 0
    with target.open("xb") as out:
        while block := source.read(_COPY_BLOCK):
            written += len(block)
            if written > limit:
                raise FieldError(
                    413, "files", f"{given!r} is over the limit of {limit} bytes (NEWSDESK_MAX_UPLOAD_BYTES)"
                )
            out.write(block)


def save_uploads(uploads: Sequence[Upload], root: Path, *, max_files: int, max_bytes: int) -> list[Path]:
    """Save every upload into a new folder under `root`, or none of them (the folder is removed
    when one file is refused). Raises FieldError with 413, 415 or 422 naming the file."""
    names = _checked_names(uploads, max_files)
    folder = root / f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    inside = folder.resolve()
    try:
        paths = []
        for upload, name in zip(uploads, names, strict=True):
            target = folder / name
            if target.resolve().parent != inside:  # cannot happen after safe_file_name; kept as a guard
                raise FieldError(422, "files", f"{upload.filename!r} would leave the upload folder")
            _copy_within(upload.file, target, max_bytes, upload.filename or name)
            paths.append(target)
        return paths
    except BaseException:
        discard(folder)
        raise


def discard(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
