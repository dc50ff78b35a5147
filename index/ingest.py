"""Ingest: load → clean → chunk → embed → store, as one atomic, incremental write.

Everything is read and validated before the index is touched: a malformed record stops
the ingest with nothing written (unless skip_errors), and a failure later on leaves the
previous version live. Unchanged articles cost nothing; changed ones are re-chunked, and
only chunks whose embedding input is new are embedded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.archive import Changes, IndexDirectory, Snapshot
from index.chunking import ChunkerSettings
from index.embedding import DEFAULT_INDEX_MODEL, Embedder, make_embedder, passage_for_embedding
from index.embedding_cache import EmbeddingCache
from index.engine import IngestEngine, LocalEngine
from index.errors import IndexStateError, InputError, NewsdeskError
from index.faults import crash_point
from index.loaders import MAX_LISTED, LoadLimits, LoadResult, Skipped, check_cancelled, load_paths
from index.manifest import Manifest
from index.records import Article, Chunk, stable_hash
from index.vectors import DEFAULT_BACKEND, resolve_backend, same_store, vectors_at

CANCEL_SLICE = 500  # articles chunked between two checks for cancellation
# (chunks embedded, chunks to embed, articles finished, articles to finish)
ProgressCallback = Callable[[int, int, int, int], None]


class IngestAborted(NewsdeskError):
    """Some records could not be read; nothing was written."""

    def __init__(self, errors: Sequence[InputError], count: int | None = None) -> None:
        """`errors`: the first few (a load keeps LoadLimits.max_listed); `count`: all of them."""
        count = len(errors) if count is None else count
        listed = list(errors[:MAX_LISTED])
        shown = "\n".join(f"  {e}" for e in listed)
        more = f"\n  ... and {count - len(listed)} more" if count > len(listed) else ""
        super().__init__(
            f"{count} record(s) could not be read; nothing was written "
            f"(fix them or pass --skip-errors):\n{shown}{more}"
        )
        self.errors = listed
        self.count = count


@dataclass(frozen=True, slots=True)
class IngestOptions:
    model: str | None = None
    chunker: ChunkerSettings | None = None
    # A backend name or milvus:PATH_OR_URI[#COLLECTION]; None: the index's own, or the default for a new one.
    vector_backend: str | None = None
    skip_errors: bool = False
    limit: int | None = None
    embedding_cache: bool = True
    # Follow symbolic links that lead out of a folder being walked (index.loaders.load_paths).
    follow_symlinks: bool = False
    limits: LoadLimits = field(default_factory=LoadLimits)  # how much one ingest may read
    # Set by another thread to stop the ingest (its client went away, the server is stopping): it stops
    # at the next record, block of a file, slice of articles chunked or batch embedded, and writes nothing.
    cancel: threading.Event | None = None
    relative_to: Path | None = None  # files under this folder are named relative to it (uploads)


@dataclass(slots=True)
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)  # the first few of each; the counts have all
    errors: list[InputError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped_count: int = 0
    error_count: int = 0
    warning_count: int = 0
    chunks_written: int = 0
    chunks_embedded: int = 0
    chunks_from_cache: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    version: str | None = None


def _manifest_for(
    root: Path, base: Snapshot | None, options: IngestOptions, embedder: Embedder | None
) -> Manifest:
    if base is not None:
        built = base.manifest
        wanted = options.vector_backend
        if wanted and not same_store(wanted, built.vector_backend, root):
            raise IndexStateError(
                f"{base.root} keeps its vectors in {built.vector_backend!r}, not {wanted!r}; "
                "leave out --store or use another --index"
            )
        if options.model and options.model != built.model:
            raise IndexStateError(
                f"{base.root} was built with model {built.model!r}, not {options.model!r}; "
                "use the same --model or another --index"
            )
        if options.chunker and options.chunker.as_dict() != built.chunker:
            raise IndexStateError(
                f"{base.root} was built with chunker settings {built.chunker}, "
                f"not {options.chunker.as_dict()}; "
                "use the same settings or another --index"
            )
        return built
    model = options.model or (embedder.name if embedder else DEFAULT_INDEX_MODEL)
    embedder = embedder or make_embedder(model)
    chunker = (options.chunker or ChunkerSettings()).as_dict()
    backend = resolve_backend(options.vector_backend or DEFAULT_BACKEND, root)
    return Manifest(model, embedder.dimension, chunker, backend)


def embed_key(model: str, title: str, text: str) -> str:
    return stable_hash(model, passage_for_embedding(title, text), length=32)


def ingest(
    root: Path | str,
    paths: Sequence[str | Path],
    options: IngestOptions | None = None,
    *,
    embedder: Embedder | None = None,
    progress: ProgressCallback | None = None,
    engine: IngestEngine | None = None,
) -> IngestReport:
    options = options or IngestOptions()
    began = time.perf_counter()
    loaded = load_paths(
        paths,
        limit=options.limit,
        follow_symlinks=options.follow_symlinks,
        limits=options.limits,
        cancel=options.cancel,
        relative_to=options.relative_to,
    )
    return ingest_loaded(
        root, loaded, options, embedder=embedder, progress=progress, began=began, engine=engine
    )


def ingest_loaded(
    root: Path | str,
    loaded: LoadResult,
    options: IngestOptions | None = None,
    *,
    embedder: Embedder | None = None,
    progress: ProgressCallback | None = None,
    began: float | None = None,
    engine: IngestEngine | None = None,
) -> IngestReport:
    """Write articles already loaded (from files or from API records) into the index. `engine` says
    where chunking and embedding run: in this process unless another is given."""
    options = options or IngestOptions()
    began = time.perf_counter() if began is None else began
    if loaded.errors and not options.skip_errors:
        raise IngestAborted(loaded.errors, loaded.error_count)
    report = IngestReport(
        skipped=loaded.skipped,
        errors=loaded.errors,
        warnings=loaded.warnings,
        skipped_count=loaded.skipped_count,
        error_count=loaded.error_count,
        warning_count=loaded.warning_count,
    )
    directory = IndexDirectory(root)
    check_cancelled(options.cancel)
    with directory.lock():
        base = directory.open() if directory.exists() else None
        try:
            manifest = _manifest_for(directory.root, base, options, embedder)
            embedder = embedder or make_embedder(manifest.model)
            if embedder.name != manifest.model:
                raise IndexStateError(
                    f"embedder {embedder.name!r} does not match the index's {manifest.model!r}"
                )
            changed = _classify(loaded.articles, base, report)
            if changed or base is None:
                cache_problems: list[str] = []
                cache = EmbeddingCache.open_default(cache_problems) if options.embedding_cache else None
                try:
                    report.version = _write(
                        directory,
                        base,
                        manifest,
                        changed,
                        embedder,
                        report,
                        progress,
                        cache,
                        engine or LocalEngine(),
                        options.cancel,
                    )
                finally:
                    if cache is not None:
                        cache_problems += [cache.write_error] if cache.write_error else []
                        cache.close()
                    report.warnings = [*report.warnings, *cache_problems]
                    report.warning_count += len(cache_problems)
        finally:
            if base is not None:
                base.close()
    report.seconds = time.perf_counter() - began
    return report


def _classify(articles: Sequence[Article], base: Snapshot | None, report: IngestReport) -> list[Article]:
    known = base.local_catalog().article_hashes() if base else {}
    changed = []
    for article in articles:
        previous = known.get(article.id)
        if previous == article.content_hash:
            report.unchanged.append(article.id)
            continue
        (report.updated if previous else report.added).append(article.id)
        changed.append(article)
    return changed


def _write(
    directory: IndexDirectory,
    base: Snapshot | None,
    manifest: Manifest,
    articles: Sequence[Article],
    embedder: Embedder,
    report: IngestReport,
    progress: ProgressCallback | None,
    cache: EmbeddingCache | None,
    engine: IngestEngine,
    cancel: threading.Event | None = None,
) -> str:
    chunks = _chunk(engine, articles, ChunkerSettings(**manifest.chunker), cancel)
    titles = {article.id: article.title for article in articles}
    keys = [embed_key(manifest.model, titles[c.article_id], c.text) for c in chunks]
    inputs = [passage_for_embedding(titles[c.article_id], c.text) for c in chunks]
    vectors = np.zeros((len(chunks), manifest.dimension), np.float32)
    reusable = base.local_catalog().embed_key_rows() if base else {}
    # Each distinct embedding input is embedded once: reused from the index, or new.
    first_index: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key not in reusable:
            first_index.setdefault(key, i)
    new_vectors: dict[str, np.ndarray] = {}
    if cache is not None and first_index:
        new_vectors = cache.get_many(first_index, manifest.dimension)
    fresh = [i for key, i in first_index.items() if key not in new_vectors]
    report.chunks_from_cache = len(new_vectors)
    began = time.perf_counter()
    total, done = len(first_index), len(new_vectors)
    if progress and total and not fresh:
        progress(total, total, len(articles), len(articles))
    if fresh:
        computed: dict[str, np.ndarray] = {}
        for positions, rows in engine.embed([inputs[i] for i in fresh], embedder):
            batch = {keys[fresh[p]]: row for p, row in zip(positions, rows, strict=True)}
            if cache is not None:
                # Kept batch by batch, even if the ingest fails later (a lost worker, a full disk):
                # running it again embeds only what had not been done.
                cache.put_many(batch)
            computed.update(batch)
            crash_point("embedding")
            check_cancelled(cancel)
            done += len(positions)
            if progress:  # over every distinct input, the cached ones counted as done; articles estimated
                progress(done, total, len(articles) * done // total, len(articles))
        if len(computed) != len(fresh):
            raise IndexStateError(f"internal error: {len(computed)} vectors for {len(fresh)} passages")
        new_vectors.update(computed)
    report.embed_seconds = time.perf_counter() - began
    reused = [i for i, key in enumerate(keys) if key in reusable]
    if base is not None and reused:
        vectors[reused] = vectors_at(base.vectors, [reusable[keys[i]] for i in reused])
    for i, key in enumerate(keys):
        if key in new_vectors:
            vectors[i] = new_vectors[key]
    report.chunks_embedded = len(fresh)
    report.chunks_written = len(chunks)
    updated = set(report.updated)
    removed = [a.id for a in articles if a.id in updated]
    crash_point("before-write")
    check_cancelled(cancel)
    return directory.write(base, manifest, Changes(removed, articles, chunks, keys, vectors))


def _chunk(
    engine: IngestEngine,
    articles: Sequence[Article],
    settings: ChunkerSettings,
    cancel: threading.Event | None,
) -> list[Chunk]:
    """The engine's chunks of every article; a slice of articles at a time when the ingest can be
    cancelled, so that it stops within one slice."""
    if cancel is None:
        return engine.chunk(articles, settings)
    chunks: list[Chunk] = []
    for start in range(0, len(articles), CANCEL_SLICE):
        check_cancelled(cancel)
        chunks += engine.chunk(articles[start : start + CANCEL_SLICE], settings)
    return chunks


@dataclass(slots=True)
class DeleteReport:
    deleted: list[str]
    missing: list[str]
    version: str | None


def delete(root: Path | str, article_ids: Sequence[str]) -> DeleteReport:
    directory = IndexDirectory(root)
    with directory.lock():
        base = directory.open()
        try:
            known = base.local_catalog().article_hashes()
            deleted = [a for a in dict.fromkeys(article_ids) if a in known]
            missing = [a for a in dict.fromkeys(article_ids) if a not in known]
            version = None
            if deleted:
                empty = np.zeros((0, base.manifest.dimension), np.float32)
                version = directory.write(base, base.manifest, Changes(deleted, [], [], [], empty))
        finally:
            base.close()
    return DeleteReport(deleted, missing, version)
