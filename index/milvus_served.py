"""An index read from a Milvus engine alone: `--index milvus:URI#COLLECTION` for `serve`, `ask`, `search`,
`chat`, `info` and `eval`, on any number of machines, with no index folder.

Everything answering reads comes from the engine: the live version from COLLECTION__versions
(index.milvus_versions), each passage's text, article and citation fields from its row (written there by
a write to an index whose engine runs BM25, see index.milvus_schema), dense and BM25 search with their
filters, and BM25's term weights. Writes still go through the index folder that built the collection
(`newsdesk ingest PATH --index FOLDER`), whose catalog stays the source of truth `check --repair`
rebuilds from; every server on the engine picks the new version up at its next question.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from index.archive import Snapshot
from index.catalog import Passage
from index.errors import IndexStateError
from index.info import described_version
from index.lexical import bm25_idf, words_and_terms
from index.manifest import Manifest
from index.milvus_schema import PASSAGE_FIELDS, UNDATED, literal
from index.milvus_store import MAX_TOP_K, MilvusStore, connect, split_location
from index.milvus_versions import KEPT, live_generation, manifest_from, version_row
from index.records import Article
from index.vectors import RowFilter

PREFIX = "milvus:"
_READ = ["key", "text", *PASSAGE_FIELDS, "published"]


def is_served_location(text: str | Path) -> TypeGuard[str]:
    """Whether `text` names an index read from a Milvus engine alone (milvus:URI#COLLECTION)."""
    return isinstance(text, str) and text.startswith(PREFIX)


def _iso_day(number: int) -> str | None:
    if number == UNDATED:
        return None
    return f"{number // 10_000:04d}-{number // 100 % 100:02d}-{number % 100:02d}"


def _passage(row: dict[str, Any]) -> Passage:
    title = str(row["title"])
    text = str(row["text"])
    return Passage(
        int(row["key"]),
        str(row["chunk_id"]),
        str(row["article_id"]),
        int(row["ordinal"]),
        int(row["start"]),
        int(row["end"]),
        text[len(title) + 1 :] if text.startswith(title + "\n") else text,
        title,
        str(row["outlet"]) or None,
        str(row["url"]) or None,
        str(row["published_at"]) or None,
    )


class ServedCatalog:
    """The catalog's reads (index.catalog.CatalogReader), answered from the rows and the version's summary.
    Rows are the engine's keys."""

    def __init__(self, store: MilvusStore, summary: dict[str, Any]) -> None:
        self._store = store
        self._summary = summary

    def passages(self, rows: Sequence[int]) -> list[Passage]:
        found = self._store.rows_by_key(rows, _READ, "read passages")
        return [_passage(found[int(row)]) for row in rows if int(row) in found]

    def row_dates(self, rows: Sequence[int]) -> dict[int, str | None]:
        """The publication day (ISO) of each row's article, None when undated."""
        found = self._store.rows_by_key(rows, ["published"], "read dates")
        return {key: _iso_day(int(row["published"])) for key, row in found.items()}

    def filtered_rows(self, since: str | None, until: str | None, sources: Sequence[str] | None) -> list[int]:
        raise IndexStateError(
            "an index read from the Milvus engine alone filters inside the engine's searches "
            "(NEWSDESK_BM25=newsdesk needs the index folder)"
        )

    def article_passages(self, article_id: str) -> list[Passage]:
        rows = self._store.rows_where(f"article_id == {literal(article_id)}", _READ, "read an article")
        return sorted((_passage(row) for row in rows), key=lambda p: p.ordinal)

    def article(self, article_id: str) -> Article | None:
        """The article rebuilt from its chunks (their spans cover its text; overlaps agree)."""
        passages = self.article_passages(article_id)
        if not passages:
            return None
        text = ""
        for passage in passages:
            text = text[: passage.start].ljust(passage.start) + passage.text
        first = passages[0]
        return Article(first.article_id, first.title, text, first.published_at, first.source, first.url)

    def recent_titles(self, limit: int) -> list[str]:
        return [str(title) for title in self._summary.get("recent_titles", [])[:limit]]

    def stats(self) -> dict[str, Any]:
        return {key: self._summary[key] for key in ("articles", "chunks", "date_range", "outlets")}

    def close(self) -> None:
        """Nothing to close: the engine's connection is shared."""


class EngineTerms:
    """BM25's search and term weights (index.lexical.TermStatistics) from the engine. A term's document
    frequency is the number of the version's rows the BM25 search for its word finds (the engine analyzes
    the word as it analyzed the text), counted up to Milvus's top-k limit: a word in more rows than that
    weighs as if in that many, and only the commonest words come near it."""

    def __init__(self, store: MilvusStore) -> None:
        self._store = store
        self._frequencies: dict[str, int] = {}  # by word
        self._lock = threading.Lock()

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if allowed is not None:
            raise IndexStateError("an index read from the Milvus engine alone filters inside its searches")
        return self._store.search_text_where([query], k, RowFilter())

    def term_weights(self, text: str) -> dict[str, float]:
        pairs = words_and_terms(text)
        with self._lock:
            unknown = sorted({word for word, _ in pairs} - self._frequencies.keys())
        if unknown:
            counted = self._count(unknown)
            with self._lock:
                self._frequencies |= counted
        rows = len(self._store)
        weights: dict[str, float] = {}
        for word, term in pairs:
            if self._frequencies[word]:
                weights[term] = bm25_idf(rows, self._frequencies[word])
        return weights

    def _count(self, words: list[str]) -> dict[str, int]:
        """The rows each word is in, all counted in one BM25 search."""
        _, rows = self._store.search_text_where(words, MAX_TOP_K, RowFilter())
        return {word: int((found >= 0).sum()) for word, found in zip(words, rows, strict=True)}


class ServedIndex:
    """The index directory's reads (current version, open, manifest, versions) from the engine alone."""

    keep_versions = KEPT

    def __init__(self, location: str) -> None:
        if not is_served_location(location):
            raise IndexStateError(f"a Milvus index is named milvus:URI#COLLECTION, got {location!r}")
        self.location = location
        self.uri, self.collection = split_location(location[len(PREFIX) :])
        self._client: Any = None
        self._rows: dict[int, dict[str, Any]] = {}

    @property
    def root(self) -> Path:
        raise IndexStateError(f"{self.location} has no index folder: it is read from the Milvus engine alone")

    def client(self) -> Any:
        if self._client is None:
            self._client = connect(self.uri)
        return self._client

    def _live(self) -> dict[str, Any] | None:
        generation = live_generation(self.client(), self.uri, self.collection)
        if generation is None:
            return None
        if generation not in self._rows:
            self._rows = {generation: version_row(self.client(), self.uri, self.collection, generation)}
        return self._rows[generation]

    def current_version(self) -> str | None:
        live = self._live()
        return None if live is None else str(live["version"])

    def exists(self) -> bool:
        return self._live() is not None

    def _required(self) -> dict[str, Any]:
        live = self._live()
        if live is None:
            raise IndexStateError(
                f"Milvus at {self.uri} has announced no version of {self.collection!r}: ingest into an index "
                f"folder with --store milvus:{self.uri}#{self.collection} first"
            )
        return live

    def manifest(self) -> Manifest:
        return manifest_from(self._required()["manifest"], self.location)

    def open(self, *, verify: bool = True, defer_large: bool = False) -> Snapshot:
        """The live version; `verify` checks that the engine shows it as many rows as it had."""
        live = self._required()
        manifest = manifest_from(live["manifest"], self.location)
        summary = live["summary"]
        store = MilvusStore.served(
            f"{self.uri}#{self.collection}",
            manifest.dimension,
            int(summary["generation"]),
            int(summary["rows"]),
            int(summary.get("write_timestamp", 0)),
        )
        if not store.has_text:
            raise IndexStateError(
                f"Milvus collection {self.collection!r} keeps vectors only (its engine has no BM25): "
                "serve it from its index folder"
            )
        if verify and (shown := store.count_visible()) != len(store):
            raise IndexStateError(
                f"Milvus collection {self.collection!r} shows {live['version']} {shown} rows, "
                f"not the {len(store)} it was published with"
            )
        return Snapshot(
            Path(self.collection), str(live["version"]), manifest, ServedCatalog(store, summary), store,
            EngineTerms(store),
        )  # fmt: skip

    def version_summaries(self) -> list[dict[str, object]]:
        live = self._required()
        manifest = live["manifest"]
        return [
            {
                "version": live["version"],
                "live": True,
                "created_at": manifest.get("created_at"),
                **manifest.get("counts", {}),
            }
        ]

    def describe(self, snapshot: Snapshot) -> dict[str, Any]:
        """What `info` shows of an index read from the engine alone."""
        return {
            "index": self.location,
            **described_version(snapshot),
            "size_bytes": None,
            "manifest": f"{self.location} (announced in {self.collection}__versions)",
            "versions": self.version_summaries(),
            "keep_versions": self.keep_versions,
        }
