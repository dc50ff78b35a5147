"""Where an ingest chunks and embeds: in this process (the default) or on a cluster (index/ray_engine.py).

An engine does only the two stages worth spreading out. Everything around them (what changed, which
vectors the index or the embedding cache already holds, how the version is written) is the same code for
every engine, so the engines produce the same index by construction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np

from index.chunking import Chunker, ChunkerSettings
from index.embedding import Embedder
from index.records import Article, Chunk

EMBED_BATCH = 256

# (positions in the texts given to `embed`, one normalized float32 row per position)
EmbeddedBatch = tuple[Sequence[int], np.ndarray]


class IngestEngine(Protocol):
    def chunk(self, articles: Sequence[Article], settings: ChunkerSettings) -> list[Chunk]:
        """Every article's chunks: articles in the order given, each article's chunks in ordinal order."""
        ...

    def embed(self, texts: Sequence[str], embedder: Embedder) -> Iterator[EmbeddedBatch]:
        """Vectors for `texts`, batch by batch as they are ready, in any order; every position once."""
        ...


class LocalEngine:
    """Both stages in this process, with the embedder the ingest was given."""

    def chunk(self, articles: Sequence[Article], settings: ChunkerSettings) -> list[Chunk]:
        chunker = Chunker(settings)
        return [chunk for article in articles for chunk in chunker.chunk(article)]

    def embed(self, texts: Sequence[str], embedder: Embedder) -> Iterator[EmbeddedBatch]:
        """Batches of similar length: sorting the whole input, not each batch, is what cuts the padding
        (it made ingest as fast as one plain encode call)."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(texts), EMBED_BATCH):
            batch = order[start : start + EMBED_BATCH]
            yield batch, embedder.embed([texts[i] for i in batch])
