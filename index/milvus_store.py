"""Vectors in a Milvus collection, shared by every version of one index (`--store milvus:PATH_OR_URI`).

PATH is a Milvus Lite file (`news.db`, embedded, one process at a time); URI is a Milvus server or
cluster (`http://host:19530`). The SQLite catalog and the BM25 index stay in the version folder.

One collection holds the rows of every version. Each row is tagged with the generation that added it
(`born`) and the one that removed it (`died`, ALIVE until then); version g sees the rows with
born <= g < died. So a write adds and retires rows without copying the others, and readers of the live
version never see a write in progress:

    key        generation << 40 | a random byte of the write << 32 | position among the rows it added
    vector     FLOAT_VECTOR, FLAT index, inner product: the scores FAISS gives (cosine on unit vectors)
    published  the article's day as YYYYMMDD, null when undated  } the filters of a search,
    source     its outlet, ASCII-lowercased as SQLite's lower(), } applied by Milvus inside it
    born, died generations, as above

The version folder holds `milvus.json` (its generation) and `milvus-keys.npy` (the key of each catalog
row, increasing), both checksummed by the manifest. A write derives the next generation from the live
one (`successor`): it first deletes what a killed write left (rows born after the live generation) and
revives what such a write retired, then purges the rows the live version does not see. So the version
before the live one stays whole until the next write begins, for a reader that opened it just before
the swap, as an open file of a removed version folder stays readable.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import socket
import string
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import IndexStateError
from index.tiered import as_matrix
from index.vectors import FilterFields, RowFilter

STATE_FILE = "milvus.json"
KEYS_FILE = "milvus-keys.npy"
ALIVE = 1 << 62  # `died` of a row that no version has removed
ROW_BITS = 32  # a key's low bits: the row's position among those its write added
WRITE_BITS = 8  # then a random byte per write: two writers of one generation (a copied index folder)
# would otherwise give their rows the same keys, and one could read the other's vectors as its own
MAX_TOP_K = 16_384  # Milvus returns at most this many hits a query
TIE_SLACK = 8  # extra hits fetched so that ties at the k-th score are broken by row, as FAISS does
BATCH = 1_000  # rows per insert, upsert or query
DESCRIPTION = "newsdesk vectors"  # marks collections this module made (and may drop to start over)
SERVER_SCHEMES = ("http://", "https://", "tcp://", "unix:")
_COLLECTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
INSTALL_HINT = "pip install 'newsdesk[scale]'"


def resolve_location(text: str, index_root: Path) -> str:
    """`URI#COLLECTION` for a new index: a Lite path made absolute (serve and ask may run elsewhere),
    and the collection named after the index folder and host unless `text` names one."""
    uri, _, collection = text.partition("#")
    uri = uri.strip()
    if not uri:
        raise IndexStateError(
            "--store milvus: needs a Milvus Lite file (milvus:./news.db) or a server URI "
            "(milvus:http://localhost:19530)"
        )
    if not uri.startswith(SERVER_SCHEMES):
        if not uri.endswith(".db"):
            raise IndexStateError(f"a Milvus Lite file name must end in .db, got {uri!r}")
        uri = str(Path(uri).expanduser().resolve())
    if not collection:
        place = f"{socket.gethostname()}:{index_root.expanduser().resolve()}"
        collection = "newsdesk_" + hashlib.sha256(place.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    if not _COLLECTION_NAME.fullmatch(collection):
        raise IndexStateError(
            f"a Milvus collection name is a letter or _ then letters, digits or _, got {collection!r}"
        )
    return f"{uri}#{collection}"


def split_location(location: str) -> tuple[str, str]:
    uri, _, collection = location.rpartition("#")
    if not uri or not collection:
        raise IndexStateError(f"the manifest's Milvus location {location!r} is not URI#COLLECTION")
    return uri, collection


def day_number(day: str | None) -> int | None:
    """2015-09-30 -> 20150930: ordered as the catalog's ISO days are."""
    if day is None:
        return None
    try:
        parsed = date.fromisoformat(day[:10])
    except ValueError as error:
        raise ValueError(f"expected an ISO date, got {day!r}") from error
    return parsed.year * 10_000 + parsed.month * 100 + parsed.day


def _literal(text: str) -> str:
    """A Milvus string literal. Milvus Lite reads no \\u escapes, so other characters go in as they are."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


def _sqlite_lower(text: str | None) -> str | None:
    """Lowercase as SQLite's lower() does: ASCII letters only."""
    return None if text is None else text.translate(_ASCII_LOWER)


def where_expression(where: RowFilter) -> str:
    """The Milvus filter that keeps the rows `Catalog.filtered_rows` keeps for the same filters: undated
    rows fail any date bound (null compares false, as NULL in SQL), and outlets match after lowercasing,
    the query's with Python's lower() and the stored one with SQLite's (ASCII only), as the catalog does."""
    clauses = []
    if where.since:
        clauses.append(f"published >= {day_number(where.since)}")
    if where.until:
        clauses.append(f"published <= {day_number(where.until)}")
    if where.sources:
        clauses.append(f"source in [{', '.join(_literal(s.lower()) for s in where.sources)}]")
    return " and ".join(clauses)


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Milvus Lite logs a traceback when it cannot open a file; the error raised says it better."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


def connect(uri: str) -> Any:
    """A MilvusClient for `uri`; pymilvus shares one connection between the clients of a URI."""
    try:
        from pymilvus import MilvusClient
    except ImportError as error:
        raise IndexStateError(
            f"this index keeps its vectors in Milvus, which needs pymilvus and milvus-lite: {INSTALL_HINT}"
        ) from error
    lite = not uri.startswith(SERVER_SCHEMES)
    if lite:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    try:
        with _quiet("milvus_lite"):
            return MilvusClient(uri=uri, token=os.environ.get("NEWSDESK_MILVUS_TOKEN", ""))
    except Exception as error:
        hint = (
            "; Milvus Lite opens a file from one process at a time: if a newsdesk server has it open, "
            "ingest through that server or stop it (a Milvus server, milvus:http://HOST:19530, serves many)"
            if lite
            else ""
        )
        raise IndexStateError(f"cannot open Milvus at {uri} ({error}){hint}") from error


class MilvusStore:
    """One index version's view of the shared collection: its generation and its rows' keys."""

    backend = "milvus"

    def __init__(
        self,
        location: str,
        dimension: int,
        generation: int,
        keys: np.ndarray,
        *,
        client: Any = None,
        writable: bool = False,
        write_id: int = 0,
    ) -> None:
        self.uri, self.collection = split_location(location)
        self._location = location
        self._dimension = dimension
        self._generation = generation
        self._keys = np.asarray(keys, dtype=np.int64)
        self._added = 0
        self._client_handle = client
        self._writable = writable
        self._write_id = write_id

    @classmethod
    def empty(cls, location: str, dimension: int) -> MilvusStore:
        """Generation 0, before any write: its successor starts the collection over."""
        return cls(location, dimension, 0, np.zeros(0, np.int64))

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def kind(self) -> str:
        return f"Milvus exact inner product (FLAT), collection {self.collection} at {self.uri}"

    def __len__(self) -> int:
        return len(self._keys)

    def _client(self) -> Any:
        if self._client_handle is None:
            self._client_handle = connect(self.uri)
        return self._client_handle

    def _visible(self, extra: str = "") -> str:
        g = self._generation
        return f"born <= {g} and died > {g}" + (f" and ({extra})" if extra else "")

    # Writing: only a successor, before its version is published, takes rows.

    def successor(self, kept_rows: np.ndarray) -> MilvusStore:
        kept = np.asarray(kept_rows, dtype=np.int64)
        if len(kept) and (kept.min() < 0 or kept.max() >= len(self)):
            raise ValueError(f"kept rows must lie in 0..{len(self) - 1}")
        if self._generation == 0:
            if len(kept):
                raise ValueError("a new collection keeps no rows")
            self._start_over()
        else:
            self._undo_unpublished()
            self._client().delete(self.collection, filter=f"died <= {self._generation}")
        self._set_died(np.setdiff1d(self._keys, self._keys[kept]), self._generation + 1)
        return MilvusStore(
            self._location,
            self._dimension,
            self._generation + 1,
            self._keys[kept],
            client=self._client(),
            writable=True,
            write_id=secrets.randbelow(1 << WRITE_BITS),
        )

    def _start_over(self) -> None:
        """An empty collection for a new index or a rebuild. Only a collection this module made is
        dropped: a name that holds someone else's data is refused."""
        from pymilvus import DataType, MilvusClient

        client = self._client()
        if client.has_collection(self.collection):
            if client.describe_collection(self.collection).get("description") != DESCRIPTION:
                raise IndexStateError(
                    f"Milvus at {self.uri} already holds a collection {self.collection!r} that newsdesk "
                    f"did not make; name another: --store milvus:{self.uri}#OTHER_NAME"
                )
            client.drop_collection(self.collection)
        schema = MilvusClient.create_schema(
            auto_id=False, enable_dynamic_field=False, description=DESCRIPTION
        )
        schema.add_field("key", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self._dimension)
        schema.add_field("published", DataType.INT64, nullable=True)
        schema.add_field("source", DataType.VARCHAR, max_length=65_535, nullable=True)
        schema.add_field("born", DataType.INT64)
        schema.add_field("died", DataType.INT64)
        indexes = client.prepare_index_params()
        indexes.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        for field in ("published", "source", "born", "died"):
            indexes.add_index(field_name=field, index_type="INVERTED")
        # Strong: a reader that opens a version just published must see every row the write added.
        client.create_collection(self.collection, schema=schema, consistency_level="Strong")
        # Not waited for: the collection is empty, and Milvus Lite lacks the call pymilvus waits with
        # (each index then cost 0.5 s of retries).
        client.create_index(self.collection, indexes, sync=False)
        client.load_collection(self.collection)

    def _undo_unpublished(self) -> None:
        """Remove what a write that never published (killed, or failed) did to the collection."""
        client, g = self._client(), self._generation
        client.delete(self.collection, filter=f"born > {g}")
        revived: set[int] = set()
        while retired := client.query(
            self.collection, filter=f"died > {g} and died < {ALIVE}", output_fields=["key"], limit=BATCH
        ):
            keys = {int(row["key"]) for row in retired}
            if keys <= revived:
                raise IndexStateError(
                    f"Milvus collection {self.collection!r} does not keep updates to `died`"
                )
            revived |= keys
            self._set_died(np.array(sorted(keys), np.int64), ALIVE)

    def _set_died(self, keys: np.ndarray, generation: int) -> None:
        client = self._client()
        for start in range(0, len(keys), BATCH):
            batch = [{"key": int(key), "died": generation} for key in keys[start : start + BATCH]]
            client.upsert(self.collection, batch, partial_update=True)

    def add(self, vectors: np.ndarray) -> None:
        """Rows with no date or outlet: a filtered search never returns them."""
        self.add_rows(vectors, [FilterFields(None, None)] * len(vectors))

    def add_rows(self, vectors: np.ndarray, fields: Sequence[FilterFields]) -> None:
        if not self._writable:
            raise IndexStateError(
                f"generation {self._generation} of {self.collection} is published and read-only; "
                "rows go into its successor"
            )
        matrix = as_matrix(vectors, self._dimension)
        if len(fields) != len(matrix):
            raise ValueError(f"{len(matrix)} vectors but {len(fields)} rows of filter fields")
        if self._added + len(matrix) >= 1 << ROW_BITS:
            raise ValueError(f"one write takes at most {(1 << ROW_BITS) - 1:,} rows")
        first = (self._generation << (ROW_BITS + WRITE_BITS)) | (self._write_id << ROW_BITS) | self._added
        keys = np.arange(first, first + len(matrix), dtype=np.int64)
        rows = [
            {
                "key": int(key),
                "vector": vector,
                "published": day_number(field.published_date),
                "source": _sqlite_lower(field.source),
                "born": self._generation,
                "died": ALIVE,
            }
            for key, vector, field in zip(keys, matrix, fields, strict=True)
        ]
        client = self._client()
        for start in range(0, len(rows), BATCH):
            client.insert(self.collection, rows[start : start + BATCH])
        self._keys = np.concatenate([self._keys, keys])
        self._added += len(matrix)

    def save(self, path: Path) -> None:
        """Seal what this write sent before the folder names it. Milvus Lite searches unsealed rows
        one by one in Python: 20,000 took 1.3 s a query before a flush, 65 ms after (a server builds
        the index of a sealed segment). A published version's rows then stay as they are."""
        if self._writable:
            self._client().flush(self.collection)
        state = {"generation": self._generation, "rows": len(self._keys)}
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        with open(path.with_name(KEYS_FILE), "wb") as handle:
            np.save(handle, self._keys, allow_pickle=False)
            handle.flush()
            os.fsync(handle.fileno())

    @classmethod
    def load(cls, path: Path, dimension: int, location: str) -> MilvusStore:
        """The version saved at `path`, checked against the collection: it must exist, hold vectors of
        this dimension and show this version exactly as many rows as the folder lists."""
        keys_path = path.with_name(KEYS_FILE)
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            generation, rows = int(state["generation"]), int(state["rows"])
            keys = np.load(keys_path, allow_pickle=False)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise IndexStateError(f"{path}: cannot read this version's Milvus state ({error})") from error
        if keys.ndim != 1 or keys.dtype != np.int64 or len(keys) != rows or np.any(np.diff(keys) <= 0):
            raise IndexStateError(f"{keys_path}: is not {rows} increasing int64 keys; the index is damaged")
        store = cls(location, dimension, generation, keys)
        store._verify()
        return store

    def _verify(self) -> None:
        client = self._client()
        repair = "`newsdesk check --repair` rebuilds it from the catalog"
        if not client.has_collection(self.collection):
            raise IndexStateError(
                f"Milvus at {self.uri} has no collection {self.collection!r}, which holds this index's "
                f"vectors; {repair}"
            )
        fields = client.describe_collection(self.collection)["fields"]
        stored = next((f["params"].get("dim") for f in fields if f["name"] == "vector"), None)
        if stored is None or int(stored) != self._dimension:
            raise IndexStateError(
                f"Milvus collection {self.collection!r} holds {stored}-dimensional vectors, "
                f"the manifest says {self._dimension}"
            )
        client.load_collection(self.collection)
        counted = client.query(self.collection, filter=self._visible(), output_fields=["count(*)"])
        found = int(counted[0]["count(*)"])
        ends = [int(self._keys[0]), int(self._keys[-1])] if len(self._keys) else []
        at_ends = self._visible(f"key in [{', '.join(map(str, ends))}]")
        visible = client.query(self.collection, filter=at_ends, output_fields=["key"]) if ends else []
        if found != len(self._keys) or {int(row["key"]) for row in visible} != set(ends):
            raise IndexStateError(
                f"Milvus collection {self.collection!r} at {self.uri} shows generation {self._generation} "
                f"{found} rows, not the {len(self._keys)} the index lists (or not the same ones); {repair}"
            )

    # Reading

    def vectors(self) -> np.ndarray:
        return self.vectors_at(np.arange(len(self), dtype=np.int64))

    def vectors_at(self, rows: np.ndarray) -> np.ndarray:
        keys = self._keys[np.asarray(rows, dtype=np.int64)]
        found: dict[int, Any] = {}
        client = self._client()
        unique = np.unique(keys)
        for start in range(0, len(unique), BATCH):
            batch = [int(key) for key in unique[start : start + BATCH]]
            for row in client.query(self.collection, ids=batch, output_fields=["vector"]):
                found[int(row["key"])] = row["vector"]
        out = np.zeros((len(keys), self._dimension), np.float32)
        for i, key in enumerate(keys.tolist()):
            if key not in found:
                raise IndexStateError(f"Milvus collection {self.collection!r} lost the row with key {key}")
            out[i] = found[key]
        return out

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, rows) per query; `allowed` rows become a filter on their keys, fine for a few
        thousand (the retriever filters by date and outlet with `search_where` instead)."""
        if allowed is None:
            return self._search(queries, k, "")
        rows = np.unique(np.asarray(allowed, dtype=np.int64))
        if len(rows) and (rows[0] < 0 or rows[-1] >= len(self)):
            raise ValueError(f"allowed rows must lie in 0..{len(self) - 1}")
        if len(rows) == 0:
            return self._search(queries, k, "", nothing=True)
        return self._search(queries, k, f"key in [{','.join(str(key) for key in self._keys[rows].tolist())}]")

    def search_where(self, queries: np.ndarray, k: int, where: RowFilter) -> tuple[np.ndarray, np.ndarray]:
        return self._search(queries, k, where_expression(where))

    def _search(
        self, queries: np.ndarray, k: int, expression: str, nothing: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Milvus orders equal scores as it likes; FAISS by row. A few more hits than k are fetched, more
        while the last one still ties the k-th, and the hits are sorted by score, then row."""
        queries = as_matrix(queries, self._dimension)
        if not 1 <= k <= MAX_TOP_K:
            raise ValueError(f"k must be in 1..{MAX_TOP_K} for a Milvus search, got {k}")
        out_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        out_rows = np.full((len(queries), k), -1, dtype=np.int64)
        if nothing or len(self) == 0 or len(queries) == 0:
            return out_scores, out_rows
        limit = min(k + TIE_SLACK, MAX_TOP_K)
        while True:
            results = self._client().search(
                self.collection,
                data=queries,
                limit=limit,
                filter=self._visible(expression),
                output_fields=["key"],
                anns_field="vector",
                search_params={"metric_type": "IP"},
            )
            unsettled = any(
                len(hits) == limit and len(hits) > k and hits[-1]["distance"] == hits[k - 1]["distance"]
                for hits in results
            )
            if not unsettled or limit == MAX_TOP_K:
                break
            limit = min(2 * limit, MAX_TOP_K)
        for q, hits in enumerate(results):
            scores = np.array([hit["distance"] for hit in hits], dtype=np.float32)
            rows = self._rows_of(np.array([hit["key"] for hit in hits], dtype=np.int64))
            order = np.lexsort((rows, -scores))[:k]
            out_scores[q, : len(order)] = scores[order]
            out_rows[q, : len(order)] = rows[order]
        return out_scores, out_rows

    def _rows_of(self, keys: np.ndarray) -> np.ndarray:
        positions = np.searchsorted(self._keys, keys)
        inside = positions < len(self._keys)
        if not inside.all() or np.any(self._keys[positions[inside]] != keys):
            raise IndexStateError(
                f"Milvus collection {self.collection!r} returned rows that generation {self._generation} "
                "does not list; the index is damaged (`newsdesk check --repair` rebuilds it)"
            )
        return positions.astype(np.int64)
