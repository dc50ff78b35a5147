"""An index directory holds complete, immutable versions and a CURRENT pointer.

    root/CURRENT            name of the live version, replaced atomically
    root/LOCK               held by the one process allowed to write
    root/versions/v000007/  manifest.json, catalog.sqlite, vectors.faiss, bm25/
                            (with `--store milvus:...`: milvus.json and milvus-keys.npy, which name
                            this version's rows in a Milvus collection that all versions share)

A write builds the next version in a temporary folder, fsyncs it, renames it into place
and only then swaps CURRENT. A failure or a kill at any point leaves CURRENT naming the
previous version, untouched; readers keep the snapshot they opened.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from index import catalog as catalog_module
from index.catalog import Catalog
from index.dates import date_part
from index.errors import IndexLockedError, IndexStateError
from index.faults import crash_point
from index.lexical import LexicalIndex
from index.manifest import (
    Manifest,
    describe_files,
    fsync_path,
    read_manifest,
    verify_checksums,
    verify_files,
    write_manifest,
)
from index.records import Article, Chunk
from index.vectors import FilterFields, SharedStore, VectorStore, load_store, next_store, store_file

CATALOG_NAME = "catalog.sqlite"
LARGE_FILE_BYTES = 64 << 20
LEXICAL_DIR = "bm25"


@dataclass(slots=True)
class Snapshot:
    """One loaded, consistent version of the index."""

    root: Path
    version: str
    manifest: Manifest
    catalog: Catalog
    vectors: VectorStore
    lexical: LexicalIndex
    unverified: tuple[str, ...] = ()  # large files whose checksums the opener promised to check later

    def verify_rest(self) -> None:
        """Checksum the files `open(defer_large=True)` only sized; raises naming a damaged one."""
        verify_checksums(self.root / "versions" / self.version, self.manifest, list(self.unverified))

    def close(self) -> None:
        self.catalog.db.close()


@dataclass(slots=True)
class Changes:
    """What a write does: drop these articles, then add these articles and chunks."""

    removed: Sequence[str]
    articles: Sequence[Article]
    chunks: Sequence[Chunk]
    embed_keys: Sequence[str]
    vectors: np.ndarray


class IndexDirectory:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser()

    @property
    def versions(self) -> Path:
        return self.root / "versions"

    def current_version(self) -> str | None:
        try:
            name = (self.root / "CURRENT").read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return name or None

    def version_folders(self) -> list[str]:
        """The version folders present, oldest first (whatever CURRENT says)."""
        if not self.versions.is_dir():
            return []
        names = [p.name for p in self.versions.iterdir() if p.is_dir() and _version_number(p.name)]
        return sorted(names, key=_version_number)

    def exists(self) -> bool:
        """An index is here, whole or not: a damaged CURRENT must not pass for an empty folder."""
        return self.current_version() is not None or bool(self.version_folders())

    def current_folder(self) -> tuple[str, Path]:
        version = self.current_version()
        pointer = self.root / "CURRENT"
        repair = f"`newsdesk check --repair --index {self.root}` points it at the newest whole version"
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

    def point_at_newest_whole_version(self) -> str | None:
        """Repair a damaged CURRENT: name the newest version whose manifest and files all verify.
        Call with the lock held. Returns that version, or None when none is whole."""
        for name in reversed(self.version_folders()):
            folder = self.versions / name
            try:
                verify_files(folder, read_manifest(folder))
            except IndexStateError:
                continue
            _replace_text(self.root / "CURRENT", name + "\n")
            return name
        return None

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
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            current = self.current_version()
            if current is not None and (self.versions / current).is_dir():
                self._remove_old_versions(keep=current)  # what a killed write may have left
            # (a CURRENT naming no folder is damage, not an empty index: then nothing is removed)
            try:
                yield
            finally:
                handle.truncate(0)
                fcntl.flock(handle, fcntl.LOCK_UN)

    def write(self, base: Snapshot | None, manifest: Manifest, changes: Changes) -> str:
        """Build and publish the next version; call with the lock held. Returns its name."""
        self.versions.mkdir(parents=True, exist_ok=True)
        staging = self.versions / f".tmp-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
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
            for path in staging.rglob("*"):
                fsync_path(path)
            fsync_path(staging)
            crash_point("staged")
            name = self._next_name()
            os.rename(staging, self.versions / name)
            fsync_path(self.versions)
            crash_point("renamed")
            _replace_text(self.root / "CURRENT", name + "\n")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        crash_point("published")
        self._remove_old_versions(keep=name)
        return name

    def _next_name(self) -> str:
        """One past every version present: a write killed after renaming its folder into place but
        before swapping CURRENT leaves that folder behind, and its name must not be reused."""
        taken = [_version_number(p.name) for p in self.versions.iterdir()]
        return f"v{max([_version_number(self.current_version()), *taken]) + 1:06d}"

    def _remove_old_versions(self, keep: str) -> None:
        for folder in self.versions.iterdir():
            if folder.name != keep:
                shutil.rmtree(folder, ignore_errors=True)


def _version_number(name: str | None) -> int:
    return int(name[1:]) if name and name.startswith("v") and name[1:].isdigit() else 0


def _replace_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_path(path.parent)


def _build_version(
    staging: Path, base: Snapshot | None, manifest: Manifest, changes: Changes
) -> dict[str, int]:
    database = staging / CATALOG_NAME
    if base is not None:
        # The online backup API copies a consistent image even while readers hold the file open.
        target = catalog_module.connect(database, read_only=False)
        base.catalog.db.backup(target)
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
        store = next_store(
            base.vectors if base else None, manifest.vector_backend, manifest.dimension, old_rows
        )
        if isinstance(store, SharedStore):
            store.add_rows(changes.vectors, _filter_fields(changes))
        elif len(changes.vectors):
            store.add(changes.vectors)
        store.save(staging / store_file(manifest.vector_backend))
        texts = catalog.embedding_inputs()
        LexicalIndex.build(texts).save(staging / LEXICAL_DIR)
        articles = catalog.stats()["articles"]
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    fsync_path(database)
    if len(store) != len(texts):
        raise IndexStateError(f"internal error: {len(store)} vectors for {len(texts)} chunks")
    return {"articles": int(articles), "chunks": len(texts)}


def _filter_fields(changes: Changes) -> list[FilterFields]:
    """The date and outlet of each new chunk's article, for a store that filters by them itself."""
    articles = {a.id: FilterFields(date_part(a.published_at), a.source) for a in changes.articles}
    return [articles[chunk.article_id] for chunk in changes.chunks]
