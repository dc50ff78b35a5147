"""Hybrid retrieval: dense (FAISS or Milvus) and BM25 searches, each filtered inside the search,
fused by reciprocal rank. BM25 catches names and numbers the small embedding model
blurs; the dense side catches paraphrase ("struck" for "hit"). A third ranking of the same
candidates by time joins the fusion: nearest first to the period the question names, else to the
date it is asked as of (see rag.when)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import partial

import numpy as np

from index.archive import Snapshot
from index.embedding import Embedder, embed_queries
from index.vectors import EngineTextSearch, RowFilter, filtered_search
from rag.records import Hit, SearchFilters
from rag.when import TimeScope, read_time

# BM25 searches run here, beside the query's embedding in the caller's thread.
_LEXICAL_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="newsdesk-bm25")


ENGINE_BM25, ENGINE_RRF, OWN_BM25 = "engine", "engine-rrf", "newsdesk"
BM25_PLACES = (ENGINE_BM25, ENGINE_RRF, OWN_BM25)


@dataclass(frozen=True, slots=True)
class RetrievalSettings:
    dense_weight: float = 0.4
    lexical_weight: float = 1.0
    time_weight: float = 0.7  # the time ranking; only when the question has an as-of date or a period
    rrf_k: int = 10
    candidates: int = 100
    # Where BM25 runs when the vector store runs it too (Milvus 2.5+, see index.milvus_schema): ENGINE_BM25
    # (the engine's ranking, fused here), ENGINE_RRF (the engine fuses dense and BM25 by plain RRF; only
    # the time ranking is fused here) or OWN_BM25 (newsdesk's index in the version folder, as elsewhere).
    bm25: str = "engine"

    def __post_init__(self) -> None:
        if min(self.dense_weight, self.lexical_weight, self.time_weight) < 0:
            raise ValueError("retrieval weights must be non-negative")
        if self.dense_weight + self.lexical_weight == 0:
            raise ValueError("the dense and BM25 weights must not both be zero")
        if self.bm25 not in BM25_PLACES:
            raise ValueError(f"bm25 must be one of {', '.join(BM25_PLACES)}, got {self.bm25!r}")


def time_order(rows: Sequence[int], dates: dict[int, str | None], as_of: date, scope: TimeScope) -> list[int]:
    """`rows` nearest first: to the question's period when it names one, else to `as_of` (articles
    published more than a day after it, and undated ones, last). Ties keep their order."""

    def distance(row: int) -> tuple[int, int]:
        published = dates.get(row)
        if published is None:
            return (1, 0)
        day = date.fromisoformat(published)
        if scope.bounded:
            low = date.fromisoformat(scope.since) if scope.since else date.min
            high = date.fromisoformat(scope.until) if scope.until else date.max
            return (0, 0 if low <= day <= high else min(abs((day - low).days), abs((day - high).days)))
        age = (as_of - day).days
        return (1, 0) if age < -1 else (0, abs(age))

    return sorted(rows, key=distance)


def shared_ranks(scores: Sequence[float], tolerance: float = 1e-6) -> list[int]:
    """Ranks of scores sorted best first, equal scores sharing the rank of the first of them (as in
    "1, 2, 2, 4"): two passages BM25 scores alike must not be told apart by the order they came in,
    or that order outweighs what the time ranking knows."""
    ranks: list[int] = []
    for position, score in enumerate(scores):
        tied = position > 0 and abs(scores[position - 1] - score) <= tolerance * max(1.0, abs(score))
        ranks.append(ranks[-1] if tied else position)
    return ranks


def _ranked(scores: np.ndarray, rows: np.ndarray) -> list[tuple[int, float]]:
    """(row, score) pairs of one query's hits, -1 padding dropped; a search of one query gives them as
    its only row (2-d) or as they are (1-d, newsdesk's BM25)."""
    return [
        (int(r), float(s))
        for s, r in zip(np.atleast_2d(scores)[0], np.atleast_2d(rows)[0], strict=True)
        if r >= 0
    ]


class HybridRetriever:
    def __init__(
        self, snapshot: Snapshot, embedder: Embedder, settings: RetrievalSettings | None = None
    ) -> None:
        self.snapshot = snapshot
        self.embedder = embedder
        self.settings = settings or RetrievalSettings()

    def embed_query(self, query: str) -> np.ndarray:
        vector: np.ndarray = embed_queries(self.embedder, [query])[0]
        return vector

    def search(
        self,
        query: str,
        k: int = 5,
        filters: SearchFilters | None = None,
        query_vector: np.ndarray | None = None,
        as_of: date | None = None,
    ) -> list[Hit]:
        return self.search_with_vector(query, k, filters, query_vector, as_of)[0]

    def search_with_vector(
        self,
        query: str,
        k: int = 5,
        filters: SearchFilters | None = None,
        query_vector: np.ndarray | None = None,
        as_of: date | None = None,
    ) -> tuple[list[Hit], np.ndarray | None]:
        """`search`, also returning the query's vector (embedded here unless given) for reuse.
        BM25 runs in another thread while the query is embedded and searched: both release the GIL
        for most of their work, so on two cores the slower of the two sets the latency, not their sum."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        filters = filters or SearchFilters()
        where = RowFilter(filters.since, filters.until, tuple(filters.sources)) if filters.active else None
        scope = read_time(query, as_of or date.today())
        engine = self._engine_text()
        allowed: np.ndarray | None = None
        if where is not None and engine is None:  # the engine filters inside its searches
            allowed = np.asarray(
                self.snapshot.catalog.filtered_rows(filters.since, filters.until, filters.sources),
                dtype=np.int64,
            )
        total = len(self.snapshot.vectors) if allowed is None else len(allowed)
        if total == 0 or not query.strip():
            return [], query_vector
        depth = min(max(self.settings.candidates, k), total)
        s = self.settings
        if engine is not None and s.bm25 == ENGINE_RRF and s.dense_weight > 0 and s.lexical_weight > 0:
            query_vector = self.embed_query(query) if query_vector is None else query_vector
            scores, rows = engine.hybrid_where(
                query_vector[None, :], [query], depth, where or RowFilter(), s.rrf_k
            )
            return self._fuse([], [], k, as_of, scope, engine_fused=_ranked(scores, rows)), query_vector
        if engine is not None:  # both rankings from the engine, each filtered inside its search
            lexical_search = partial(engine.search_text_where, [query], depth, where or RowFilter())
            dense_search = partial(engine.search_where, k=depth, where=where or RowFilter())
        else:
            lexical_search = partial(self.snapshot.lexical.search, query, depth, allowed)
            dense_search = partial(
                filtered_search, self.snapshot.vectors, k=depth, allowed=allowed, where=where
            )
        dense: list[tuple[int, float]] = []
        pending = _LEXICAL_POOL.submit(lexical_search) if s.lexical_weight > 0 else None
        try:
            if s.dense_weight > 0:
                query_vector = self.embed_query(query) if query_vector is None else query_vector
                dense = _ranked(*dense_search(query_vector[None, :]))
        finally:
            lexical = _ranked(*pending.result()) if pending is not None else []
        return self._fuse(dense, lexical, k, as_of, scope), query_vector

    def _engine_text(self) -> EngineTextSearch | None:
        """The store, when it runs BM25 itself and the settings ask for its BM25: the engine then ranks
        by both (fused here with the weights, ENGINE_BM25, or by its own RRF, ENGINE_RRF)."""
        store = self.snapshot.vectors
        if self.settings.bm25 == OWN_BM25 or not isinstance(store, EngineTextSearch) or not store.has_text:
            return None
        return store

    def _fuse(
        self,
        dense: Sequence[tuple[int, float]],
        lexical: Sequence[tuple[int, float]],
        k: int,
        as_of: date | None,
        scope: TimeScope,
        engine_fused: Sequence[tuple[int, float]] = (),
    ) -> list[Hit]:
        """Weighted reciprocal-rank fusion of the dense, BM25 and (engine_fused) engine's fused rankings,
        and of the time ranking of what they found."""
        s = self.settings
        fused: dict[int, float] = {}
        rankings = (
            (s.dense_weight, dense),
            (s.lexical_weight, lexical),
            (s.dense_weight + s.lexical_weight, engine_fused),
        )
        for weight, ranking in rankings:
            for (row, _), rank in zip(ranking, shared_ranks([score for _, score in ranking]), strict=True):
                fused[row] = fused.get(row, 0.0) + weight / (s.rrf_k + rank + 1)
        # Asked as of a given date, the newest articles before it are preferred; with no date, only
        # when the question says so ("this week", "latest") or names a period.
        if s.time_weight > 0 and (as_of is not None or scope.recent or scope.bounded):
            dates = self.snapshot.catalog.row_dates(list(fused))
            reference = as_of or date.today()
            for rank, row in enumerate(time_order(list(fused), dates, reference, scope)):
                fused[row] += s.time_weight / (s.rrf_k + rank + 1)
        dense_scores, lexical_scores = dict(dense), dict(lexical)
        best = sorted(fused, key=lambda row: (-fused[row], row))[:k]
        passages = {p.row: p for p in self.snapshot.catalog.passages(best)}
        return [
            Hit(passages[row], fused[row], dense_scores.get(row), lexical_scores.get(row))
            for row in best
            if row in passages
        ]
