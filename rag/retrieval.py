"""Hybrid retrieval: dense (FAISS) and BM25 searches, each filtered inside the search,
fused by reciprocal rank. BM25 catches names and numbers the small embedding model
blurs; the dense side catches paraphrase ("struck" for "hit")."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from index.archive import Snapshot
from index.embedding import Embedder
from rag.records import Hit, SearchFilters

# BM25 searches run here, beside the query's embedding in the caller's thread.
_LEXICAL_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="newsdesk-bm25")


@dataclass(frozen=True, slots=True)
class RetrievalSettings:
    dense_weight: float = 0.4
    lexical_weight: float = 1.0
    rrf_k: int = 10
    candidates: int = 50

    def __post_init__(self) -> None:
        if self.dense_weight < 0 or self.lexical_weight < 0 or self.dense_weight + self.lexical_weight == 0:
            raise ValueError("retrieval weights must be non-negative and not both zero")


def _ranked(scores: np.ndarray, rows: np.ndarray) -> list[tuple[int, float]]:
    return [(int(r), float(s)) for s, r in zip(scores, rows, strict=True) if r >= 0]


class HybridRetriever:
    def __init__(
        self, snapshot: Snapshot, embedder: Embedder, settings: RetrievalSettings | None = None
    ) -> None:
        self.snapshot = snapshot
        self.embedder = embedder
        self.settings = settings or RetrievalSettings()

    def embed_query(self, query: str) -> np.ndarray:
        vector: np.ndarray = self.embedder.embed([query])[0]
        return vector

    def search(
        self,
        query: str,
        k: int = 5,
        filters: SearchFilters | None = None,
        query_vector: np.ndarray | None = None,
    ) -> list[Hit]:
        return self.search_with_vector(query, k, filters, query_vector)[0]

    def search_with_vector(
        self,
        query: str,
        k: int = 5,
        filters: SearchFilters | None = None,
        query_vector: np.ndarray | None = None,
    ) -> tuple[list[Hit], np.ndarray | None]:
        """`search`, also returning the query's vector (embedded here unless given) for reuse.
        BM25 runs in another thread while the query is embedded and searched: both release the GIL
        for most of their work, so on two cores the slower of the two sets the latency, not their sum."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        filters = filters or SearchFilters()
        allowed: np.ndarray | None = None
        if filters.active:
            allowed = np.asarray(
                self.snapshot.catalog.filtered_rows(filters.since, filters.until, filters.sources),
                dtype=np.int64,
            )
        total = len(self.snapshot.vectors) if allowed is None else len(allowed)
        if total == 0 or not query.strip():
            return [], query_vector
        depth = min(max(self.settings.candidates, k), total)
        pending: Future[tuple[np.ndarray, np.ndarray]] | None = None
        if self.settings.lexical_weight > 0:
            pending = _LEXICAL_POOL.submit(self.snapshot.lexical.search, query, depth, allowed)
        dense: list[tuple[int, float]] = []
        try:
            if self.settings.dense_weight > 0:
                query_vector = self.embed_query(query) if query_vector is None else query_vector
                scores, rows = self.snapshot.vectors.search(query_vector[None, :], depth, allowed)
                dense = _ranked(scores[0], rows[0])
        finally:
            lexical = _ranked(*pending.result()) if pending is not None else []
        return self._fuse(dense, lexical, k), query_vector

    def _fuse(
        self, dense: Sequence[tuple[int, float]], lexical: Sequence[tuple[int, float]], k: int
    ) -> list[Hit]:
        s = self.settings
        fused: dict[int, float] = {}
        for weight, ranking in ((s.dense_weight, dense), (s.lexical_weight, lexical)):
            for rank, (row, _) in enumerate(ranking):
                fused[row] = fused.get(row, 0.0) + weight / (s.rrf_k + rank + 1)
        dense_scores, lexical_scores = dict(dense), dict(lexical)
        best = sorted(fused, key=lambda row: (-fused[row], row))[:k]
        passages = {p.row: p for p in self.snapshot.catalog.passages(best)}
        return [
            Hit(passages[row], fused[row], dense_scores.get(row), lexical_scores.get(row))
            for row in best
            if row in passages
        ]
