"""`newsdesk check [--repair]`: verify an index version file by file, and rebuild what can be derived.

Checked: every file against the manifest's size and sha256 (all problems listed, not just the first),
then the agreement of the parts: as many vectors and BM25 documents as SQLite has chunks. The SQLite
catalog is the source of truth: with it intact, `--repair` rebuilds the BM25 index from its chunks and
the vectors from the embedding cache (re-embedding with the index's model what the cache lacks), and
publishes the result as a new version, atomically, like any write. For an index whose vectors live in
Milvus, loading them checks that the collection shows the version exactly its rows, and a repair starts
the collection over from the catalog.

What nothing rebuilds (a damaged manifest or catalog, or a damaged CURRENT) `--repair` mends by rolling
back: CURRENT then names the newest kept version (see NEWSDESK_KEEP_VERSIONS) that is whole.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from index import catalog as catalog_module
from index.archive import CATALOG_NAME, LEXICAL_DIR, Changes, IndexDirectory, Snapshot, version_number
from index.catalog import Catalog
from index.embedding import Embedder, make_embedder
from index.embedding_cache import EmbeddingCache
from index.errors import IndexLockedError, IndexStateError
from index.lexical import LexicalIndex
from index.manifest import MANIFEST_NAME, Manifest, read_manifest, verify_files
from index.vectors import load_store, new_store, store_file


@dataclass(slots=True)
class CheckReport:
    version: str
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems or bool(self.repaired)


def _file_problems(folder: Path, manifest: Manifest) -> list[str]:
    """Every damaged or missing file, each named (verify_files stops at the first)."""
    problems = []
    for name, expected in manifest.files.items():
        try:
            verify_files(folder, replace(manifest, files={name: expected}))
        except IndexStateError as error:
            problems.append(str(error))
    return problems


def check(root: Path | str, *, repair: bool = False, embedder: Embedder | None = None) -> CheckReport:
    """A repair needs the write lock (and fails at once when a write holds it). A plain check takes it
    when it is free, which also clears what a killed write left; when a write holds it, the check
    reads the live version without touching anything."""
    directory = IndexDirectory(root)
    with contextlib.ExitStack() as stack:
        if repair or directory.root.is_dir():
            try:
                stack.enter_context(directory.lock())
            except (IndexLockedError, OSError):
                if repair:
                    raise
        return _check_locked(directory, repair, embedder)


def _check_locked(directory: IndexDirectory, repair: bool, embedder: Embedder | None) -> CheckReport:
    report = CheckReport("")
    try:
        version, folder = directory.current_folder()
    except IndexStateError as error:
        if not directory.version_folders():
            raise  # no index here at all
        report.problems.append(str(error))
        if repair:
            _roll_back(directory, report, newer_than_live=True)
        return report
    report.version = version
    report.problems = version_problems(folder)
    if not (repair and report.problems):
        return report
    if any(_not_rebuildable(problem) for problem in report.problems):
        _roll_back(directory, report, newer_than_live=False)
        return report
    manifest = read_manifest(folder)
    connection = catalog_module.connect(folder / CATALOG_NAME, read_only=True)
    try:
        report.repaired = _rebuild(
            directory, folder, manifest, Catalog(connection), embedder or make_embedder(manifest.model)
        )
    finally:
        connection.close()
    return report


def version_problems(folder: Path) -> list[str]:
    """Everything wrong with one version folder, each problem naming its file; [] when it is whole."""
    try:
        manifest = read_manifest(folder)
    except IndexStateError as error:
        return [str(error)]
    problems = _file_problems(folder, manifest)
    database = folder / CATALOG_NAME
    try:
        connection = catalog_module.connect(database, read_only=True)
    except sqlite3.Error as error:
        return [*problems, f"{database}: the catalog cannot be opened ({error})"]
    try:
        (chunks,) = connection.execute("SELECT count(*) FROM chunks").fetchone()
    except sqlite3.Error as error:
        return [*problems, f"{database}: the catalog cannot be read ({error})"]
    finally:
        connection.close()
    return problems + _agreement(folder, manifest.vector_backend, manifest.dimension, int(chunks))


def _not_rebuildable(problem: str) -> bool:
    """The manifest and the catalog are the sources of truth: nothing rebuilds them."""
    return f"{MANIFEST_NAME}:" in problem or f"{CATALOG_NAME}:" in problem


def _roll_back(directory: IndexDirectory, report: CheckReport, *, newer_than_live: bool) -> None:
    """Point CURRENT at the newest whole version kept (other than the damaged live one). Versions
    newer than the live one are candidates only when the pointer itself is damaged."""
    live = report.version
    for name in reversed(directory.version_folders()):
        if name == live or (live and not newer_than_live and version_number(name) > version_number(live)):
            continue
        if version_problems(directory.versions / name):
            continue
        directory.point_at(name)
        lost = f"; the writes after it are lost ({live} is damaged)" if live else ""
        report.repaired.append(f"CURRENT now names {name}, the newest version whose files all verify{lost}")
        report.version = name
        return
    damaged = sorted({n for n in (MANIFEST_NAME, CATALOG_NAME) for p in report.problems if f"{n}:" in p})
    what = f"{' and '.join(damaged)} of {live} cannot be rebuilt" if damaged else "CURRENT is damaged"
    kept = ", ".join(directory.version_folders())
    report.problems.append(
        f"not repairable: {what}, and no other version in {directory.versions} is whole (kept: {kept}); "
        "restore the index from a backup"
    )


def _agreement(folder: Path, backend: str, dimension: int, chunks: int) -> list[str]:
    problems = []
    try:
        vectors = len(load_store(backend, folder / store_file(backend), dimension))
        if vectors != chunks:
            problems.append(
                f"{folder / store_file(backend)}: {vectors} vectors for {chunks} chunks in SQLite"
            )
    except Exception as error:
        problems.append(f"{folder / store_file(backend)}: cannot be loaded ({error})")
    try:
        lexical = LexicalIndex.load(folder / LEXICAL_DIR, chunks)
        size = len(lexical.scores("a"))
        if size != chunks:
            problems.append(f"{folder / LEXICAL_DIR}: {size} BM25 documents for {chunks} chunks in SQLite")
    except Exception as error:
        problems.append(f"{folder / LEXICAL_DIR}: cannot be loaded ({error})")
    return problems


def _rebuild(
    directory: IndexDirectory, folder: Path, manifest: Manifest, catalog: Catalog, embedder: Embedder
) -> list[str]:
    """A new version from the catalog alone: vectors from the cache or re-embedded, BM25 rebuilt."""
    texts = catalog.embedding_inputs()
    keys = catalog.embed_keys()
    cache = EmbeddingCache.open_default()
    cached = cache.get_many(keys, manifest.dimension) if cache else {}
    missing = [i for i, key in enumerate(keys) if key not in cached]
    vectors = np.zeros((len(keys), manifest.dimension), np.float32)
    for i, key in enumerate(keys):
        if key in cached:
            vectors[i] = cached[key]
    if missing:
        vectors[missing] = embedder.embed([texts[i] for i in missing])
    if cache:
        cache.close()
    empty = new_store(manifest.vector_backend, manifest.dimension)
    base = Snapshot(directory.root, folder.name, manifest, catalog, empty, LexicalIndex(None, 0))
    # Every chunk is dropped and re-added with its vector: the write rebuilds vectors and BM25 together.
    articles = [a for a in (catalog.article(i) for i in catalog.article_hashes()) if a is not None]
    chunks = catalog.chunks_in_row_order()
    name = directory.write(base, manifest, Changes([a.id for a in articles], articles, chunks, keys, vectors))
    return [
        f"rebuilt {len(keys)} vectors ({len(keys) - len(missing)} from the embedding cache, {len(missing)} "
        f"re-embedded) and the BM25 index as version {name}"
    ]
