"""Ingest throughput end to end, against the same chunk texts through SentenceTransformer.encode alone."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from eval.bench.measure import ratio
from index.archive import IndexDirectory
from index.embedding import SentenceTransformerEmbedder, make_embedder
from index.embedding_cache import EmbeddingCache
from index.ingest import IngestOptions, ingest
from index.vectors import DEFAULT_BACKEND

RAW_BATCH = 32  # sentence-transformers' default, and what every peer framework uses


def _embedded(index_dir: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """The exact texts that were embedded, in row order, and each embedding key's vector."""
    snapshot = IndexDirectory(index_dir).open()
    try:
        texts = snapshot.local_catalog().embedding_inputs()
        vectors = dict(zip(snapshot.local_catalog().embed_keys(), snapshot.vectors.vectors(), strict=True))
    finally:
        snapshot.close()
    return texts, vectors


def run_ingest(corpus: Path, workdir: Path, limit: int | None, model: str | None = None) -> dict[str, Any]:
    embedder = make_embedder(model)
    embedder.warm_up()
    embedder.embed(["a warm-up passage, so that loading the model is not timed"])
    index_dir = workdir / "bench-index"
    options = IngestOptions(model=model, limit=limit, embedding_cache=False)
    began = time.perf_counter()
    report = ingest(index_dir, [corpus], options, embedder=embedder)
    seconds = time.perf_counter() - began
    texts, vectors = _embedded(index_dir)

    began = time.perf_counter()
    embedder.embed(texts)
    own_s = time.perf_counter() - began

    raw = SentenceTransformerEmbedder()
    raw.model.encode(texts[:RAW_BATCH], batch_size=RAW_BATCH)
    began = time.perf_counter()
    raw.model.encode(texts, batch_size=RAW_BATCH, normalize_embeddings=True, show_progress_bar=False)
    raw_s = time.perf_counter() - began

    chunks = report.chunks_written
    return {
        "corpus": str(corpus),
        "articles": len(report.added),
        "chunks": chunks,
        "mean_chars_per_chunk": round(sum(map(len, texts)) / max(1, len(texts))),
        "model": embedder.name,
        "vector_backend": DEFAULT_BACKEND,
        "seconds": round(seconds, 2),
        "embed_seconds": round(report.embed_seconds, 2),
        "other_seconds": round(seconds - report.embed_seconds, 2),
        "chunks_per_s": round(chunks / seconds, 1),
        "raw_encode_chunks_per_s": round(len(texts) / raw_s, 1),
        "raw_encode_batch_size": RAW_BATCH,
        "ratio_to_raw": ratio(raw_s, seconds),
        "embedder_alone_chunks_per_s": round(len(texts) / own_s, 1),
        "ratio_to_embedder_alone": ratio(own_s, seconds),
        **_cached_reingest(corpus, workdir, limit, model, embedder, vectors),
        "index": str(index_dir),
    }


def _cached_reingest(
    corpus: Path,
    workdir: Path,
    limit: int | None,
    model: str | None,
    embedder: Any,
    vectors: dict[str, np.ndarray],
) -> dict[str, float]:
    """The same articles into a new index with every vector already in the embedding cache."""
    cache = EmbeddingCache(workdir / "bench-cache.sqlite")
    cache.put_many(vectors)
    cache.close()
    previous = os.environ.get("NEWSDESK_EMBEDDING_CACHE")
    os.environ["NEWSDESK_EMBEDDING_CACHE"] = str(workdir / "bench-cache.sqlite")
    try:
        began = time.perf_counter()
        report = ingest(
            workdir / "bench-index-cached",
            [corpus],
            IngestOptions(model=model, limit=limit),
            embedder=embedder,
        )
        seconds = time.perf_counter() - began
    finally:
        if previous is None:
            os.environ.pop("NEWSDESK_EMBEDDING_CACHE", None)
        else:
            os.environ["NEWSDESK_EMBEDDING_CACHE"] = previous
    return {
        "cached_reingest_chunks_per_s": round(report.chunks_written / seconds, 1),
        "cached_reingest_chunks_embedded": report.chunks_embedded,
    }
