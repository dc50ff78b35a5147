"""The one object the CLI, the HTTP API and the web UI all call.

It opens the index lazily, picks up a new version after a write (by anyone), and
loads the embedding model once per model name.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import platformdirs

from index.archive import IndexDirectory, Snapshot
from index.embedding import Embedder, make_embedder
from index.ingest import DeleteReport, IngestOptions, IngestReport, ProgressCallback, delete, ingest
from index.manifest import MANIFEST_NAME
from rag.answer import AnswerSettings, ExtractiveAnswerer
from rag.records import Answer, Citation, Hit, SearchFilters
from rag.retrieval import HybridRetriever, RetrievalSettings


def default_index_dir() -> Path:
    configured = os.environ.get("NEWSDESK_INDEX")
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_data_dir("newsdesk")) / "index"


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


class Newsdesk:
    def __init__(
        self,
        index_dir: Path | str | None = None,
        *,
        embedder: Embedder | None = None,
        retrieval: RetrievalSettings | None = None,
        answering: AnswerSettings | None = None,
    ) -> None:
        self.directory = IndexDirectory(index_dir or default_index_dir())
        self._embedder = embedder
        self._embedders: dict[str, Embedder] = {}
        self.retrieval_settings = retrieval or RetrievalSettings()
        self.answer_settings = answering or AnswerSettings()
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    @property
    def index_dir(self) -> Path:
        return self.directory.root

    def snapshot(self) -> Snapshot:
        """The live version; reopened when another write has published a newer one."""
        with self._lock:
            current = self.directory.current_version()
            if self._snapshot is None or self._snapshot.version != current:
                fresh = self.directory.open()
                if self._snapshot is not None:
                    self._snapshot.close()
                self._snapshot = fresh
            return self._snapshot

    def embedder_for(self, model: str) -> Embedder:
        if self._embedder is not None and self._embedder.name == model:
            return self._embedder
        if model not in self._embedders:
            self._embedders[model] = make_embedder(model)
        return self._embedders[model]

    def _retriever(self, snapshot: Snapshot) -> HybridRetriever:
        return HybridRetriever(snapshot, self.embedder_for(snapshot.manifest.model), self.retrieval_settings)

    def search(self, query: str, k: int = 5, filters: SearchFilters | None = None) -> list[Hit]:
        return self._retriever(self.snapshot()).search(query, k, filters)

    def ask(self, question: str, k: int = 5, filters: SearchFilters | None = None) -> Answer:
        snapshot = self.snapshot()
        retriever = self._retriever(snapshot)
        retriever.embedder.warm_up()  # a one-off cost, not part of any question's latency
        began = time.perf_counter()
        question_vector = retriever.embed_query(question)
        hits = retriever.search(question, k, filters, query_vector=question_vector)
        retrieved = time.perf_counter()
        answerer = ExtractiveAnswerer(retriever.embedder, snapshot.lexical, self.answer_settings)
        text, answered, citations = answerer.answer(question, hits, question_vector)
        done = time.perf_counter()
        timings = {
            "retrieve": _ms(retrieved - began),
            "answer": _ms(done - retrieved),
            "total": _ms(done - began),
        }
        return Answer(question, text, answered, citations, timings)

    def ingest(
        self,
        paths: Sequence[str | Path],
        options: IngestOptions | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        embedder = None
        if self._embedder is not None and (options is None or options.model in (None, self._embedder.name)):
            embedder = self._embedder
        return ingest(self.index_dir, paths, options, embedder=embedder, progress=progress)

    def delete(self, article_ids: Sequence[str]) -> DeleteReport:
        return delete(self.index_dir, article_ids)

    def info(self) -> dict[str, Any]:
        snapshot = self.snapshot()
        folder = snapshot.root / "versions" / snapshot.version
        manifest = snapshot.manifest
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        return {
            "index": str(snapshot.root),
            "version": snapshot.version,
            **snapshot.catalog.stats(),
            "model": manifest.model,
            "dimension": manifest.dimension,
            "chunker": manifest.chunker,
            "vector_backend": manifest.vector_backend,
            "size_bytes": size,
            "created_at": manifest.created_at,
            "manifest": str(folder / MANIFEST_NAME),
        }

    def close(self) -> None:
        with self._lock:
            if self._snapshot is not None:
                self._snapshot.close()
                self._snapshot = None


__all__ = ["Answer", "Citation", "Hit", "Newsdesk", "SearchFilters", "default_index_dir"]
