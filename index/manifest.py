"""The manifest says how an index version was built and what its files must hash to.

It is human-readable JSON, versioned, and checked on every load: a different model,
a newer format or a damaged file is reported by name instead of giving wrong answers.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from index.errors import IndexStateError

FORMAT = "newsdesk-index"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True, slots=True)
class Manifest:
    model: str
    dimension: int
    chunker: dict[str, Any]
    vector_backend: str
    counts: dict[str, int] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_at: str = ""
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    checksum: str = ""  # sha256 of the manifest itself (with this field empty); "" in older indexes


def manifest_checksum(fields: dict[str, Any]) -> str:
    """The manifest's own sha256, over its fields in a canonical form with `checksum` left empty: a
    flipped byte that still reads as JSON (a digit of a file's checksum, say) is then caught too."""
    canonical = json.dumps({**fields, "checksum": ""}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_files(directory: Path) -> dict[str, dict[str, Any]]:
    """Checksum and size of every file under `directory` except the manifest itself."""
    described = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST_NAME):
        described[path.relative_to(directory).as_posix()] = {
            "sha256": file_sha256(path),
            "bytes": path.stat().st_size,
        }
    return described


def write_manifest(directory: Path, manifest: Manifest) -> None:
    target = directory / MANIFEST_NAME
    fields = asdict(manifest)
    fields["checksum"] = manifest_checksum(fields)
    with open(target, "w", encoding="utf-8") as handle:
        json.dump(fields, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise IndexStateError(f"{path}: manifest is missing; the index is damaged") from error
    except (ValueError, UnicodeDecodeError) as error:
        raise IndexStateError(
            f"{path}: manifest is not valid JSON ({error}); the index is damaged"
        ) from error
    except OSError as error:  # a bad sector (EIO), a folder in its place, no permission
        raise IndexStateError(f"{path}: manifest cannot be read ({error}); the index is damaged") from error
    if isinstance(raw, dict) and raw.get("checksum") and raw["checksum"] != manifest_checksum(raw):
        raise IndexStateError(f"{path}: manifest is damaged (checksum mismatch)")
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise IndexStateError(f"{path}: not a Newsdesk index manifest")
    version = raw.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise IndexStateError(
            f"{path}: index format version {version!r} is newer than this Newsdesk reads ({FORMAT_VERSION}); "
            "upgrade newsdesk"
        )
    try:
        return Manifest(**raw)
    except TypeError as error:
        raise IndexStateError(f"{path}: manifest fields are wrong ({error}); the index is damaged") from error


def verify_files(directory: Path, manifest: Manifest, *, checksum_limit: int | None = None) -> list[str]:
    """Raise naming the first missing, truncated or altered file. Files larger than `checksum_limit`
    bytes are only checked for presence and size; their names are returned for `verify_checksums`."""
    deferred = []
    for name, expected in manifest.files.items():
        path = directory / name
        if not path.is_file():
            raise IndexStateError(f"{path}: index file is missing; the index is damaged")
        try:
            size = path.stat().st_size
        except OSError as error:
            raise IndexStateError(f"{path}: index file cannot be read ({error})") from error
        if size != expected.get("bytes"):
            raise IndexStateError(
                f"{path}: index file is damaged (size {size} bytes, expected {expected.get('bytes')})"
            )
        if checksum_limit is not None and size > checksum_limit:
            deferred.append(name)
        else:
            verify_checksums(directory, manifest, [name])
    return deferred


def verify_checksums(directory: Path, manifest: Manifest, names: list[str]) -> None:
    for name in names:
        path = directory / name
        try:
            digest = file_sha256(path)
        except OSError as error:  # a bad sector reads as EIO
            raise IndexStateError(f"{path}: index file cannot be read ({error})") from error
        if digest != manifest.files[name].get("sha256"):
            raise IndexStateError(f"{path}: index file is damaged (checksum mismatch)")
