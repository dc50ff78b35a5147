"""SQLite tables for articles and chunks. `chunks.row` is the chunk's row in the vector
store and the BM25 index, so the three always agree on numbering."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from index.dates import date_part
from index.records import Article, Chunk

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    published_at TEXT,
    published_date TEXT,
    source TEXT,
    url TEXT,
    metadata TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    origin TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY,
    row INTEGER NOT NULL,
    article_id TEXT NOT NULL REFERENCES articles(id),
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    token_count INTEGER NOT NULL,
    text TEXT NOT NULL,
    embed_key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_row ON chunks(row);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id);
CREATE INDEX IF NOT EXISTS articles_date ON articles(published_date);
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
"""


@dataclass(frozen=True, slots=True)
class Passage:
    """A chunk joined with its article's metadata: what search results and citations show."""

    row: int
    chunk_id: str
    article_id: str
    ordinal: int
    start: int
    end: int
    text: str
    title: str
    source: str | None
    url: str | None
    published_at: str | None


class CatalogReader(Protocol):
    """What answering reads of a catalog: SQLite in a version folder (`Catalog`), or a Milvus engine
    alone (`index.milvus_served.ServedCatalog`)."""

    def passages(self, rows: Sequence[int]) -> list[Passage]: ...

    def row_dates(self, rows: Sequence[int]) -> dict[int, str | None]: ...

    def filtered_rows(
        self, since: str | None, until: str | None, sources: Sequence[str] | None
    ) -> list[int]: ...

    def article(self, article_id: str) -> Article | None: ...

    def article_passages(self, article_id: str) -> list[Passage]: ...

    def recent_titles(self, limit: int) -> list[str]: ...

    def stats(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


_PASSAGE_SQL = """
SELECT c.row, c.id, c.article_id, c.ordinal, c.start, c.end, c.text,
       a.title, a.source, a.url, a.published_at
FROM chunks c JOIN articles a ON a.id = c.article_id
"""


def connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    if read_only:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.executescript(SCHEMA)
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


class Catalog:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def article_hashes(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT id, content_hash FROM articles"))

    def article(self, article_id: str) -> Article | None:
        row = self.db.execute(
            "SELECT id, title, text, published_at, source, url, metadata, origin FROM articles WHERE id = ?",
            (article_id,),
        ).fetchone()
        if row is None:
            return None
        return Article(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]), row[7])

    def embed_key_rows(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT embed_key, row FROM chunks"))

    def rows_of_articles(self, article_ids: Iterable[str]) -> list[int]:
        ids = list(article_ids)
        rows: list[int] = []
        for i in range(0, len(ids), 500):
            batch = ids[i : i + 500]
            marks = ",".join("?" * len(batch))
            rows += [
                r for (r,) in self.db.execute(f"SELECT row FROM chunks WHERE article_id IN ({marks})", batch)
            ]
        return rows

    def delete_articles(self, article_ids: Sequence[str]) -> None:
        self.db.executemany("DELETE FROM chunks WHERE article_id = ?", [(a,) for a in article_ids])
        self.db.executemany("DELETE FROM articles WHERE id = ?", [(a,) for a in article_ids])

    def insert(self, articles: Sequence[Article], chunks: Sequence[tuple[Chunk, int, str]]) -> None:
        """Insert articles and their (chunk, row, embed_key) triples."""
        self.db.executemany(
            "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    a.id,
                    a.title,
                    a.text,
                    a.published_at,
                    date_part(a.published_at),
                    a.source,
                    a.url,
                    json.dumps(a.metadata, ensure_ascii=False, default=str),
                    a.content_hash,
                    a.origin,
                )
                for a in articles
            ],
        )
        self.db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (c.id, row, c.article_id, c.ordinal, c.start, c.end, c.token_count, c.text, key)
                for c, row, key in chunks
            ],
        )

    def renumber_rows(self) -> list[int]:
        """Make rows 0..n-1 in their current order; returns the old row of each new row."""
        old_rows = [r for (r,) in self.db.execute("SELECT row FROM chunks ORDER BY row")]
        self.db.executemany("UPDATE chunks SET row = ? WHERE row = ?", [(-1 - r, r) for r in old_rows])
        self.db.executemany(
            "UPDATE chunks SET row = ? WHERE row = ?", [(new, -1 - old) for new, old in enumerate(old_rows)]
        )
        return old_rows

    def embed_keys(self) -> list[str]:
        """The embedding key of every chunk, in row order."""
        return [key for (key,) in self.db.execute("SELECT embed_key FROM chunks ORDER BY row")]

    def chunks_in_row_order(self) -> list[Chunk]:
        return [
            Chunk(chunk_id, article_id, ordinal, text, start, end, tokens)
            for chunk_id, article_id, ordinal, text, start, end, tokens in self.db.execute(
                "SELECT id, article_id, ordinal, text, start, end, token_count FROM chunks ORDER BY row"
            )
        ]

    def embedding_inputs(self) -> list[str]:
        """Title and text of every chunk in row order: what BM25 indexes."""
        return [
            f"{title}\n{text}"
            for title, text in self.db.execute(
                "SELECT a.title, c.text FROM chunks c JOIN articles a ON a.id = c.article_id ORDER BY c.row"
            )
        ]

    def _for_rows(self, select: str, rows: Sequence[int]) -> Iterator[Any]:
        """`select` (ending in a FROM/JOIN over `chunks c`) for the given rows, in batches."""
        wanted = [int(r) for r in rows]
        for i in range(0, len(wanted), 500):
            batch = wanted[i : i + 500]
            yield from self.db.execute(f"{select} WHERE c.row IN ({','.join('?' * len(batch))})", batch)

    def passages(self, rows: Sequence[int]) -> list[Passage]:
        found = {record[0]: Passage(*record) for record in self._for_rows(_PASSAGE_SQL, rows)}
        return [found[r] for r in rows if r in found]

    def row_dates(self, rows: Sequence[int]) -> dict[int, str | None]:
        """The publication day (ISO) of each row's article, None when undated."""
        select = "SELECT c.row, a.published_date FROM chunks c JOIN articles a ON a.id = c.article_id"
        return dict(self._for_rows(select, rows))

    def article_passages(self, article_id: str) -> list[Passage]:
        return [
            Passage(*r)
            for r in self.db.execute(
                f"{_PASSAGE_SQL} WHERE c.article_id = ? ORDER BY c.ordinal", (article_id,)
            )
        ]

    def filtered_rows(self, since: str | None, until: str | None, sources: Sequence[str] | None) -> list[int]:
        clauses: list[str] = []
        params: list[Any] = []
        if since:
            clauses.append("a.published_date >= ?")
            params.append(since)
        if until:
            clauses.append("a.published_date <= ?")
            params.append(until)
        if sources:
            clauses.append(f"lower(a.source) IN ({','.join('?' * len(sources))})")
            params += [s.lower() for s in sources]
        sql = "SELECT c.row FROM chunks c JOIN articles a ON a.id = c.article_id"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        return [r for (r,) in self.db.execute(sql + " ORDER BY c.row", params)]

    def recent_titles(self, limit: int) -> list[str]:
        """Titles of the most recently published articles, newest first, undated last."""
        rows = self.db.execute(
            "SELECT title FROM articles WHERE trim(title) != '' "
            "ORDER BY published_date IS NULL, published_date DESC, id LIMIT ?",
            (limit,),
        )
        return [str(title) for (title,) in rows]

    def close(self) -> None:
        self.db.close()

    def stats(self) -> dict[str, Any]:
        articles, first, last = self.db.execute(
            "SELECT count(*), min(published_date), max(published_date) FROM articles"
        ).fetchone()
        (chunks,) = self.db.execute("SELECT count(*) FROM chunks").fetchone()
        outlets = dict(
            self.db.execute(
                "SELECT coalesce(source, ''), count(*) FROM articles "
                "GROUP BY source ORDER BY count(*) DESC, source"
            )
        )
        return {"articles": articles, "chunks": chunks, "date_range": [first, last], "outlets": outlets}
