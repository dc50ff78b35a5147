"""`newsdesk check [--repair]`: verify an index version file by file, and rebuild what can be derived.

Checked: every file against the manifest's size and sha256 (all problems listed, not just the first),
then the agreement of the parts: as many vectors and BM25 documents as SQLite has chunks. The SQLite
catalog is the source of truth: with it intact, `--repair` rebuilds the BM25 index from its chunks and
the vectors from the embedding cache (re-embedding with the index's model what the cache lacks), and
publishes the result as a new version, atomically, like any write. For an index whose vectors live in
Milvus, loading them checks that the collection shows the version exactly its rows, and a repair starts
the collection over from the catalog.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from index import catalog as catalog_module
from index.archive import CATALOG_NAME, LEXICAL_DIR, Changes, IndexDirectory, Snapshot
from index.catalog import Catalog
from index.embedding import Embedder, make_embedder
from index.embedding_cache import EmbeddingCache
from index.errors import IndexStateError
from index.lexical import LexicalIndex
from index.manifest import Manifest, read_manifest, verify_files
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
    directory = IndexDirectory(root)
    with directory.lock() if repair else contextlib.nullcontext():
        report = CheckReport(directory.current_version() or "")
        try:
            version, folder = directory.current_folder()
        except IndexStateError as error:
            if not directory.version_folders():
                raise  # no index here at all
            report.problems.append(str(error))
            restored = directory.point_at_newest_whole_version() if repair else None
            if restored is None:
                if repair:
                    report.problems.append(f"no version in {directory.versions} is whole; not repairable")
                return report
            report.repaired.append(f"CURRENT now names {restored}, the newest version whose files all verify")
            version, folder = restored, directory.versions / restored
        report.version = version
        try:
            manifest = read_manifest(folder)
        except IndexStateError as error:
            report.problems.append(f"{error}; not repairable here (restore the index from a backup)")
            return report
        report.problems = _file_problems(folder, manifest)
        connection = catalog_module.connect(folder / CATALOG_NAME, read_only=True)
        try:
            catalog = Catalog(connection)
            (chunks,) = connection.execute("SELECT count(*) FROM chunks").fetchone()
        except Exception as error:
            connection.close()
            report.problems.append(
                f"{folder / CATALOG_NAME}: the catalog cannot be read ({error}); not repairable"
            )
            return report
        try:
            report.problems += _agreement(folder, manifest.vector_backend, manifest.dimension, int(chunks))
            if repair and report.problems:
                if any(CATALOG_NAME in p for p in report.problems):
                    report.problems.append(
                        f"{folder / CATALOG_NAME} is damaged: it is the source of truth; not repairable"
                    )
                    return report
                report.repaired = _rebuild(
                    directory, folder, manifest, catalog, embedder or make_embedder(manifest.model)
                )
        finally:
            connection.close()
    return report


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
