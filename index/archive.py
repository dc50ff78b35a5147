"""An index directory holds complete, immutable versions and a CURRENT pointer.

    root/CURRENT            name of the live version, replaced atomically
    root/LOCK               held by the one process allowed to write
    root/versions/v000007/  manifest.json, catalog.sqlite, vectors.faiss, bm25/
                            (with `--store milvus:...`: milvus.json and milvus-keys.npy, which name
                            this version's rows in a Milvus collection that all versions share)

A write builds the next version in a temporary folder, fsyncs it, renames it into place
and only then swaps CURRENT. A failure or a kill at any point leaves CURRENT naming the
previous version, untouched; readers keep the snapshot they opened.

CURRENT is read in one place, `current_version`, and must hold exactly a version's name: anything
else ("v000001/", "./v000001", a path) is damage that `check --repair` mends, never a name to
compare folders against. The last `keep_versions` versions (NEWSDESK_KEEP_VERSIONS, default 2) stay
on disk, so `check --repair` can roll back to a whole one when the live one is damaged beyond
rebuilding; a folder the pointer resolves to is never removed, whatever else holds.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from index import catalog as catalog_module
from index.atomic import atomic_file, fsync_path
from index.catalog import Catalog, CatalogReader
from index.dates import date_part
from index.errors import DiskFullError, IndexLockedError, IndexStateError
from index.faults import crash_point
from index.lexical import LexicalIndex, TermStatistics
from index.manifest import (
    Manifest,
    describe_files,
    read_manifest,
    verify_checksums,
    verify_files,
    write_manifest,
)
from index.records import Article, Chunk
from index.vectors import RowFields, SharedStore, VectorStore, load_store, next_store, store_file

CATALOG_NAME = "catalog.sqlite"
LARGE_FILE_BYTES = 64 << 20
LEXICAL_DIR = "bm25"
KEEP_VERSIONS_SETTING = "NEWSDESK_KEEP_VERSIONS"
DEFAULT_KEEP_VERSIONS = 2
STAGING_PREFIX = ".tmp-"
_VERSION_NAME = re.compile(r"v[0-9]{6,}")


def keep_versions_setting() -> int:
    """How many versions a write leaves on disk (the live one included), from NEWSDESK_KEEP_VERSIONS."""
    raw = os.environ.get(KEEP_VERSIONS_SETTING, "").strip()
    if not raw:
        return DEFAULT_KEEP_VERSIONS
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{KEEP_VERSIONS_SETTING} must be a whole number of at least 1, got {raw!r}")
    return int(raw)


@dataclass(slots=True)
class Snapshot:
    """One loaded, consistent version of the index."""

    root: Path
    version: str
    manifest: Manifest
    catalog: CatalogReader
    vectors: VectorStore
    lexical: TermStatistics
    unverified: tuple[str, ...] = ()  # large files whose checksums the opener promised to check later

    def verify_rest(self) -> None:
        """Checksum the files `open(defer_large=True)` only sized; raises naming a damaged one."""
        verify_checksums(self.root / "versions" / self.version, self.manifest, list(self.unverified))

    def close(self) -> None:
        self.catalog.close()

    def local_catalog(self) -> Catalog:
        """The SQLite catalog, which writes and checks need; a version read from a Milvus engine alone
        has none and is read-only."""
        if not isinstance(self.catalog, Catalog):
            raise IndexStateError(
                f"{self.version} is read from the Milvus engine alone and is read-only here: write "
                "through its index folder (`newsdesk ingest PATH --index FOLDER`)"
            )
        return self.catalog


@dataclass(slots=True)
class Changes:
    """What a write does: drop these articles, then add these articles and chunks."""

    removed: Sequence[str]
    articles: Sequence[Article]
    chunks: Sequence[Chunk]
    embed_keys: Sequence[str]
    vectors: np.ndarray


class IndexDirectory:
    def __init__(self, root: Path | str, *, keep_versions: int | None = None) -> None:
        self.root = Path(root).expanduser()
        self.keep_versions = keep_versions_setting() if keep_versions is None else keep_versions
        if self.keep_versions < 1:
            raise ValueError(f"keep_versions must be at least 1, got {self.keep_versions}")

    @property
    def versions(self) -> Path:
        return self.root / "versions"

    @property
    def pointer(self) -> Path:
        return self.root / "CURRENT"

    def current_version(self) -> str | None:
        """The live version's name; None when CURRENT is missing or empty. Raises when it holds
        anything but a version's name: a path there is damage, not a name to act on."""
        try:
            raw = self.pointer.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:  # a bad sector, a folder in its place
            raise IndexStateError(
                f"{self.pointer} cannot be read ({error}): the pointer to the live version is damaged; "
                f"{self._repair_hint}"
            ) from error
        if not raw.strip():
            return None
        text = raw.decode("utf-8", "backslashreplace")
        name = text[:-1] if text.endswith("\n") else text
        if not _VERSION_NAME.fullmatch(name):
            raise IndexStateError(
                f"{self.pointer} holds {text[:80]!r}, not the name of a version (such as 'v000007'): the "
                f"pointer to the live version is damaged; {self._repair_hint}"
            )
        return name

    @property
    def _repair_hint(self) -> str:
        return f"`newsdesk check --repair --index {self.root}` points it at the newest whole version"

    def version_folders(self) -> list[str]:
        """The version folders present, oldest first (whatever CURRENT says)."""
        if not self.versions.is_dir():
            return []
        names = [p.name for p in self.versions.iterdir() if _VERSION_NAME.fullmatch(p.name) and p.is_dir()]
        return sorted(names, key=version_number)

    def version_summaries(self) -> list[dict[str, object]]:
        """Every version kept on disk, newest first, as its manifest describes it (not verified)."""
        try:
            live = self.current_version()
        except IndexStateError:
            live = None
        summaries: list[dict[str, object]] = []
        for name in reversed(self.version_folders()):
            summary: dict[str, object] = {"version": name, "live": name == live}
            try:
                manifest = read_manifest(self.versions / name)
                summary |= {"created_at": manifest.created_at, **manifest.counts}
            except IndexStateError as error:
                summary["damaged"] = str(error)
            summaries.append(summary)
        return summaries

    def exists(self) -> bool:
        """An index is here, whole or not: a damaged CURRENT must not pass for an empty folder."""
        return self.current_version() is not None or bool(self.version_folders())

    def current_folder(self) -> tuple[str, Path]:
        version = self.current_version()
        pointer = self.pointer
        repair = self._repair_hint
        if version is None:
            if present := self.version_folders():
                raise IndexStateError(
                    f"{pointer} is missing or empty but {self.versions} holds {', '.join(present)}: "
                    f"the pointer to the live version is damaged; {repair}"
                )
            raise IndexStateError(
                f"no index at {self.root}; run `newsdesk ingest PATH --index {self.root}` first"
            )
        folder = self.versions / version
        if not folder.is_dir():
            raise IndexStateError(
                f"{pointer} names {version!r}, which is not in {self.versions}: the pointer to the live "
                f"version is damaged; {repair}"
            )
        return version, folder

    def point_at(self, name: str) -> None:
        """Make `name` the live version (a repair's roll-back); call with the lock held."""
        if not _VERSION_NAME.fullmatch(name) or not (self.versions / name).is_dir():
            raise IndexStateError(f"{self.versions / name}: no such version to point at")
        try:
            _replace_text(self.pointer, name + "\n")
        except OSError as error:
            if _is_disk_full(error):
                raise DiskFullError(
                    f"no space left on the device of {self.root} to point CURRENT at {name} ({error}); "
                    "nothing was changed. Free some space and run the command again"
                ) from error
            problem = f"{self.pointer} cannot be replaced ({error}); nothing was changed"
            raise IndexStateError(problem) from error
        with contextlib.suppress(IndexStateError):  # a roll-back target is whole; its manifest reads
            backend = read_manifest(self.versions / name).vector_backend
            if backend.startswith("milvus:"):  # servers that read the engine alone roll back too
                _announce_in_milvus(backend, self.versions / name)

    def manifest(self) -> Manifest:
        """The live version's manifest alone: how it was built, without loading or verifying its files."""
        return read_manifest(self.current_folder()[1])

    def open(self, *, verify: bool = True, defer_large: bool = False) -> Snapshot:
        """Load the live version. With `defer_large`, files over LARGE_FILE_BYTES (the vectors of a big
        archive) are checked for size now and left in `Snapshot.unverified` for `verify_rest`, so a
        server can answer before it has read every vector."""
        version, folder = self.current_folder()
        manifest = read_manifest(folder)
        unverified: list[str] = []
        if verify:
            unverified = verify_files(
                folder, manifest, checksum_limit=LARGE_FILE_BYTES if defer_large else None
            )
        connection = catalog_module.connect(folder / CATALOG_NAME, read_only=True)
        try:
            vectors = load_store(
                manifest.vector_backend, folder / store_file(manifest.vector_backend), manifest.dimension
            )
            lexical = LexicalIndex.load(folder / LEXICAL_DIR, manifest.counts.get("chunks", 0))
        except Exception:
            connection.close()
            raise
        return Snapshot(
            self.root, version, manifest, Catalog(connection), vectors, lexical, tuple(unverified)
        )

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One writer at a time; a second one fails at once with a clear message."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "LOCK", "a+", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as error:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                raise IndexLockedError(
                    f"{self.root} is being written by another newsdesk process (pid {holder}); "
                    "try again when it ends"
                ) from error
            # Unbuffered: the pid only helps the message above, and a full disk must neither stop a
            # repair nor fail when the file is closed with the pid still in a buffer.
            os.ftruncate(handle.fileno(), 0)
            with contextlib.suppress(OSError):
                os.pwrite(handle.fileno(), str(os.getpid()).encode(), 0)
            self._remove_leftovers()
            try:
                yield
            finally:
                os.ftruncate(handle.fileno(), 0)
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _remove_leftovers(self) -> None:
        """What a killed write left: its staging folder, a version renamed into place whose CURRENT
        swap never happened (newer than the live one), versions past `keep_versions`. Call with the
        lock held. With a damaged pointer no version is touched: which one is live is then for
        `check --repair` to settle."""
        if not self.versions.is_dir():
            return
        for folder in self.versions.iterdir():
            if folder.name.startswith(STAGING_PREFIX):
                shutil.rmtree(folder, ignore_errors=True)
        try:
            current = self.current_version()
        except IndexStateError:
            return
        if current is None or not (self.versions / current).is_dir():
            return
        unpublished = [n for n in self.version_folders() if version_number(n) > version_number(current)]
        self._remove_versions(unpublished)
        self._remove_old_versions(live=current)  # a write killed between its swap and its clean-up

    def write(self, base: Snapshot | None, manifest: Manifest, changes: Changes) -> str:
        """Build and publish the next version; call with the lock held. Returns its name. A full disk
        raises DiskFullError with nothing published: the live version goes on serving."""
        self.versions.mkdir(parents=True, exist_ok=True)
        staging = self.versions / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        placed: Path | None = None  # the new version's folder once renamed into place, until published
        try:
            staging.mkdir()
            counts = _build_version(staging, base, manifest, changes)
            write_manifest(
                staging,
                replace(
                    manifest,
                    counts=counts,
                    files=describe_files(staging),
                    created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                ),
            )
            crash_point("manifest")
            for path in staging.rglob("*"):
                fsync_path(path)
            fsync_path(staging)
            crash_point("staged")
            name = self._next_name()
            placed = self.versions / name
            os.rename(staging, placed)
            fsync_path(self.versions)
            crash_point("renamed")
            _replace_text(self.pointer, name + "\n")
        except BaseException as error:
            shutil.rmtree(staging, ignore_errors=True)
            if placed is not None:
                self._remove_versions([placed.name])  # unless CURRENT already names it
            if _is_disk_full(error):
                still = f"{base.version} still serves" if base is not None else "the index is still empty"
                raise DiskFullError(
                    f"no space left on the device of {self.root} while writing the next version ({error}); "
                    f"nothing was published and {still}. Free some space and run the command again"
                ) from error
            raise
        crash_point("published")
        if manifest.vector_backend.startswith("milvus:"):
            _announce_in_milvus(manifest.vector_backend, self.versions / name)
        self._remove_old_versions(live=name)
        return name

    def _next_name(self) -> str:
        """One past every version present, so a name is never that of a folder on disk."""
        taken = [version_number(p.name) for p in self.versions.iterdir()]
        return f"v{max([version_number(self.current_version()), *taken]) + 1:06d}"

    def _remove_old_versions(self, live: str) -> None:
        """Keep the live version and the `keep_versions - 1` before it; remove older ones."""
        older = [n for n in self.version_folders() if version_number(n) < version_number(live)]
        kept = older[len(older) - (self.keep_versions - 1) :] if self.keep_versions > 1 else []
        self._remove_versions([n for n in older if n not in kept])

    def _remove_versions(self, names: Sequence[str]) -> None:
        """Remove these version folders, except any that CURRENT leads to, read however it is
        written: a pointer edited by hand to "./v000001" must never cost the archive."""
        protected = self._pointer_targets()
        for name in names:
            folder = self.versions / name
            if _VERSION_NAME.fullmatch(name) and folder.resolve() not in protected:
                shutil.rmtree(folder, ignore_errors=True)

    def _pointer_targets(self) -> set[Path]:
        try:
            text = self.pointer.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return set()
        if not text or "\0" in text:
            return set()
        return {(self.versions / text).resolve(), (self.root / text).resolve()}


def _announce_in_milvus(store_spec: str, folder: Path) -> None:
    """Servers that read a Milvus index from the engine alone learn of the new version there."""
    from index.milvus_store import connect, split_location
    from index.milvus_versions import announce_quietly

    uri, collection = split_location(store_spec.partition(":")[2])
    announce_quietly(connect(uri), uri, collection, folder)


def version_number(name: str | None) -> int:
    """The number of a version's name (v000007 → 7); 0 for anything else."""
    return int(name[1:]) if name and _VERSION_NAME.fullmatch(name) else 0


def _is_disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    # SQLite reports a full disk in its own words, not with an errno.
    return isinstance(error, sqlite3.OperationalError) and "full" in str(error)


def _replace_text(path: Path, text: str) -> None:
    with atomic_file(path, "w", encoding="utf-8", durable_rename=True) as handle:
        handle.write(text)
        handle.flush()
        crash_point("pointer")


def _build_version(
    staging: Path, base: Snapshot | None, manifest: Manifest, changes: Changes
) -> dict[str, int]:
    database = staging / CATALOG_NAME
    if base is not None:
        # The online backup API copies a consistent image even while readers hold the file open.
        target = catalog_module.connect(database, read_only=False)
        base.local_catalog().db.backup(target)
        target.close()
    connection = catalog_module.connect(database, read_only=False)
    try:
        catalog = Catalog(connection)
        connection.execute("BEGIN")
        catalog.delete_articles(changes.removed)
        old_rows = catalog.renumber_rows()
        first_new = len(old_rows)
        catalog.insert(
            changes.articles,
            [
                (c, first_new + i, key)
                for i, (c, key) in enumerate(zip(changes.chunks, changes.embed_keys, strict=True))
            ],
        )
        connection.execute("COMMIT")
        crash_point("catalog")
        store = next_store(
            base.vectors if base else None, manifest.vector_backend, manifest.dimension, old_rows
        )
        if isinstance(store, SharedStore):
            store.add_rows(changes.vectors, _row_fields(changes))
        elif len(changes.vectors):
            store.add(changes.vectors)
        store.save(staging / store_file(manifest.vector_backend))
        crash_point("vectors")
        texts = catalog.embedding_inputs()
        LexicalIndex.build(texts).save(staging / LEXICAL_DIR)
        crash_point("bm25")
        articles = catalog.stats()["articles"]
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    fsync_path(database)
    if len(store) != len(texts):
        raise IndexStateError(f"internal error: {len(store)} vectors for {len(texts)} chunks")
    return {"articles": int(articles), "chunks": len(texts)}


def _row_fields(changes: Changes) -> list[RowFields]:
    """The article fields of each new chunk, for a store that filters, runs BM25 or serves passages itself."""
    articles = {a.id: a for a in changes.articles}
    fields = []
    for chunk in changes.chunks:
        article = articles[chunk.article_id]
        fields.append(
            RowFields(
                date_part(article.published_at),
                article.source,
                chunk.text,
                chunk.id,
                chunk.article_id,
                chunk.ordinal,
                chunk.start,
                chunk.end,
                article.title,
                article.url,
                article.published_at,
            )
        )
    return fields
