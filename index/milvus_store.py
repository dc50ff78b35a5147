"""Vectors in a Milvus collection, shared by every version of one index (`--store milvus:PATH_OR_URI`).

PATH is a Milvus Lite file (`news.db`, embedded, one process at a time); URI is a Milvus server, cluster
or the Milvus 2.5 engine (`http://host:19530`). The SQLite catalog stays in the version folder.

One collection holds the rows of every version. Each row is tagged with the generation that added it
(`born`) and the one that removed it (`died`, ALIVE until then); version g sees the rows with
born <= g < died. So a write adds and retires rows without copying the others, and readers of the live
version never see a write in progress:

    key        generation << 40 | a random byte of the write << 32 | position among the rows it added
    vector     FLOAT_VECTOR, FLAT index, inner product: the scores FAISS gives (cosine on unit vectors)
    published  the article's day as YYYYMMDD, UNDATED (0) when it has none } the filters of a search,
    source     its outlet, ASCII-lowercased as SQLite's lower(), "" if none } applied by Milvus inside it
    born, died generations, as above
    text       the chunk's title and text, which the engine's `english` analyzer feeds to a BM25
    sparse     function: BM25 search inside the engine (only where the engine has that function, 2.5+)

Only what every engine here has is used: sentinel values instead of nullable fields, a row read and
written whole instead of a partial upsert, FLAT and INVERTED indexes. A collection is known as newsdesk's
by its fields, which every engine describes (Milvus Lite 3.2.2 returns no description).

The version folder holds `milvus.json` (its generation, and the timestamp of the write's last change
where the engine gives one) and `milvus-keys.npy` (the key of each catalog row, increasing), both
checksummed by the manifest. Readers ask for that timestamp as their guarantee (consistency
"Customized"): they see the whole version without waiting for the server's time tick on every search
(Strong), which cost a server ~200 ms a search. An engine that gives no timestamp is read Strong.

A write derives the next generation from the live one (`successor`): it first deletes what a killed
write left (rows born after the live generation) and revives what such a write retired, then purges the
rows the live version does not see. So the version before the live one stays whole until the next write
begins, for a reader that opened it just before the swap, as an open file of a removed version folder
stays readable.
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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import IndexStateError
from index.milvus_engine import engine_errors
from index.milvus_schema import (
    ALIVE,
    FIELDS,
    WHOLE,
    create_collection,
    field_names,
    made_by_newsdesk,
    row_values,
    where_expression,
)
from index.tiered import as_matrix
from index.vectors import RowFields, RowFilter

STATE_FILE = "milvus.json"
KEYS_FILE = "milvus-keys.npy"
ROW_BITS = 32  # a key's low bits: the row's position among those its write added
WRITE_BITS = 8  # then a random byte per write: two writers of one generation (a copied index folder)
# would otherwise give their rows the same keys, and one could read the other's vectors as its own
MAX_TOP_K = 16_384  # Milvus returns at most this many hits a query
TIE_SLACK = 8  # extra hits fetched so that ties at the k-th score are broken by row, as FAISS does
BATCH = 1_000  # rows per insert, upsert or query
SERVER_SCHEMES = ("http://", "https://", "tcp://", "unix:")
_COLLECTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
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
    # pymilvus logs each failed call with its traceback; the IndexStateError raised says it in one line.
    # A level the user set is kept.
    for name in ("pymilvus.decorators", "pymilvus.client.connection_manager"):
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(logging.CRITICAL)
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
        message = getattr(error, "message", "") or error
        raise IndexStateError(f"cannot open Milvus at {uri} ({message}){hint}") from error


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
        write_ts: int = 0,
        has_text: bool = False,
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
        self._write_ts = write_ts
        self.has_text = has_text  # whether the engine runs BM25 over the rows' text
        self._served_rows: int | None = None  # see `served`

    @classmethod
    def served(cls, location: str, dimension: int, generation: int, rows: int, write_ts: int) -> MilvusStore:
        """A version read from the engine alone, without its folder's list of keys: its rows are
        numbered by their keys. Read-only; `rows` is how many it has."""
        store = cls(location, dimension, generation, np.zeros(0, np.int64), write_ts=write_ts)
        store._served_rows = rows
        with store._errors("open the version"):
            store._description()
        return store

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
    def write_timestamp(self) -> int:
        """The engine's timestamp of this version's last change; 0 where the engine gives none."""
        return self._write_ts

    @property
    def kind(self) -> str:
        bm25 = " and BM25 (english analyzer)" if self.has_text else ""
        return f"Milvus exact inner product (FLAT){bm25}, collection {self.collection} at {self.uri}"

    def __len__(self) -> int:
        return len(self._keys) if self._served_rows is None else self._served_rows

    def _keys_at(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        return rows if self._served_rows is not None else self._keys[rows]

    def _client(self) -> Any:
        if self._client_handle is None:
            self._client_handle = connect(self.uri)
        return self._client_handle

    def _errors(self, doing: str) -> contextlib.AbstractContextManager[None]:
        return engine_errors(self.uri, self.collection, doing)

    def _reading(self) -> dict[str, Any]:
        """How a read waits for writes: a writer sees all (Strong, rare reads); a reader waits for its
        version's last change only, never for the server's next time tick."""
        if self._writable or not self._write_ts:
            return {"consistency_level": "Strong"}
        return {"consistency_level": "Customized", "guarantee_timestamp": self._write_ts}

    def _visible(self, extra: str = "") -> str:
        g = self._generation
        return f"born <= {g} and died > {g}" + (f" and ({extra})" if extra else "")

    def _stored_fields(self) -> list[str]:
        """The fields a row is written with (`sparse` the engine derives from `text`)."""
        return [name for name in WHOLE if name != "sparse"] if self.has_text else list(FIELDS)

    # Writing: only a successor, before its version is published, takes rows.

    def successor(self, kept_rows: np.ndarray) -> MilvusStore:
        if self._served_rows is not None:
            raise IndexStateError("a version read from the Milvus engine alone is read-only")
        kept = np.asarray(kept_rows, dtype=np.int64)
        if len(kept) and (kept.min() < 0 or kept.max() >= len(self)):
            raise ValueError(f"kept rows must lie in 0..{len(self) - 1}")
        if self._generation == 0 and len(kept):
            raise ValueError("a new collection keeps no rows")
        with self._errors("prepare the next version"):
            # A loaded version learnt from its collection whether the engine runs BM25 (`_verify`).
            has_text = self._start_over() if self._generation == 0 else self.has_text
            next_store = MilvusStore(
                self._location,
                self._dimension,
                self._generation + 1,
                self._keys[kept],
                client=self._client(),
                writable=True,
                write_id=secrets.randbelow(1 << WRITE_BITS),
                has_text=has_text,
            )
            if self._generation > 0:
                next_store._undo_unpublished(self._generation)
                self._client().delete(self.collection, filter=f"died <= {self._generation}")
            next_store._set_died(np.setdiff1d(self._keys, self._keys[kept]), self._generation + 1)
        return next_store

    def _start_over(self) -> bool:
        """An empty collection for a new index or a rebuild; True if the engine runs BM25 in it. Only a
        collection this module made is dropped: a name that holds someone else's data is refused."""
        client = self._client()
        if client.has_collection(self.collection):
            if not made_by_newsdesk(client.describe_collection(self.collection)):
                raise IndexStateError(
                    f"Milvus at {self.uri} already holds a collection {self.collection!r} that newsdesk "
                    f"did not make; name another: --store milvus:{self.uri}#OTHER_NAME"
                )
            client.drop_collection(self.collection)
        try:
            create_collection(client, self.collection, self._dimension, with_text=True)
            return True
        except Exception as error:  # an engine without the BM25 function or the english analyzer
            logging.getLogger(__name__).info(
                "Milvus at %s runs no BM25 (%s); newsdesk's own BM25 serves this index", self.uri, error
            )
            if client.has_collection(self.collection):
                client.drop_collection(self.collection)
        create_collection(client, self.collection, self._dimension, with_text=False)
        return False

    def _description(self) -> dict[str, Any]:
        """The collection as the engine describes it; it must exist."""
        client = self._client()
        if not client.has_collection(self.collection):
            raise IndexStateError(
                f"Milvus at {self.uri} has no collection {self.collection!r}, which holds this index's "
                "vectors; `newsdesk check --repair` rebuilds it from the catalog"
            )
        description: dict[str, Any] = client.describe_collection(self.collection)
        self.has_text = field_names(description) == WHOLE
        return description

    def _undo_unpublished(self, live: int) -> None:
        """Remove what a write that never published (killed, or failed) did to the collection."""
        client = self._client()
        client.delete(self.collection, filter=f"born > {live}")
        revived: set[int] = set()
        while retired := client.query(
            self.collection,
            filter=f"died > {live} and died < {ALIVE}",
            output_fields=["key"],
            limit=BATCH,
            consistency_level="Strong",
        ):
            keys = {int(row["key"]) for row in retired}
            if keys <= revived:
                raise IndexStateError(
                    f"Milvus collection {self.collection!r} does not keep updates to `died`"
                )
            revived |= keys
            self._set_died(np.array(sorted(keys), np.int64), ALIVE)

    def _set_died(self, keys: np.ndarray, generation: int) -> None:
        """Each row read whole and written back with `died` changed: no engine here takes a partial
        upsert."""
        fields = self._stored_fields()
        for start in range(0, len(keys), BATCH):
            found = self._all_rows_by_key(keys[start : start + BATCH], fields, "retire rows")
            rows = [
                {**_plain(found[int(key)], fields), "died": generation} for key in keys[start : start + BATCH]
            ]
            self._client().upsert(self.collection, rows)

    def add(self, vectors: np.ndarray) -> None:
        """Rows with no date, outlet or text: a filtered search never returns them."""
        self.add_rows(vectors, [RowFields(None, None)] * len(vectors))

    def add_rows(self, vectors: np.ndarray, fields: Sequence[RowFields]) -> None:
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
        rows = []
        for key, vector, field in zip(keys, matrix, fields, strict=True):
            row = {"key": int(key), "vector": vector, **row_values(field, whole=self.has_text)}
            rows.append(row | {"born": self._generation, "died": ALIVE})
        client = self._client()
        with self._errors(f"insert {len(rows)} rows"):
            for start in range(0, len(rows), BATCH):
                client.insert(self.collection, rows[start : start + BATCH])
        self._keys = np.concatenate([self._keys, keys])
        self._added += len(matrix)

    def save(self, path: Path) -> None:
        """Seal what this write sent before the folder names it. Milvus Lite searches unsealed rows
        one by one in Python: 20,000 took 1.3 s a query before a flush, 65 ms after (a server builds
        the index of a sealed segment). A published version's rows then stay as they are."""
        if self._writable:
            with self._errors("flush the version's rows"):
                self._client().flush(self.collection)
            self._write_ts = max(self._write_ts, _last_change(self._client(), self.collection))
        state = {
            "generation": self._generation,
            "rows": len(self._keys),
            "write_timestamp": self._write_ts,
            "bm25_in_engine": self.has_text,
        }
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
            write_ts = int(state.get("write_timestamp", 0))
            keys = np.load(keys_path, allow_pickle=False)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise IndexStateError(f"{path}: cannot read this version's Milvus state ({error})") from error
        if keys.ndim != 1 or keys.dtype != np.int64 or len(keys) != rows or np.any(np.diff(keys) <= 0):
            raise IndexStateError(f"{keys_path}: is not {rows} increasing int64 keys; the index is damaged")
        store = cls(location, dimension, generation, keys, write_ts=write_ts)
        with store._errors("check this version's rows"):
            store._verify()
        return store

    def _verify(self) -> None:
        client = self._client()
        repair = "`newsdesk check --repair` rebuilds it from the catalog"
        fields = self._description()["fields"]
        stored = next((f["params"].get("dim") for f in fields if f["name"] == "vector"), None)
        if stored is None or int(stored) != self._dimension:
            raise IndexStateError(
                f"Milvus collection {self.collection!r} holds {stored}-dimensional vectors, "
                f"the manifest says {self._dimension}"
            )
        client.load_collection(self.collection)
        found = self.count_visible()
        ends = [int(self._keys[0]), int(self._keys[-1])] if len(self._keys) else []
        at_ends = self._visible(f"key in [{', '.join(map(str, ends))}]")
        visible = (
            client.query(self.collection, filter=at_ends, output_fields=["key"], **self._reading())
            if ends
            else []
        )
        if found != len(self._keys) or {int(row["key"]) for row in visible} != set(ends):
            raise IndexStateError(
                f"Milvus collection {self.collection!r} at {self.uri} shows generation {self._generation} "
                f"{found} rows, not the {len(self._keys)} the index lists (or not the same ones); {repair}"
            )

    # Reading

    def vectors(self) -> np.ndarray:
        if self._served_rows is not None:
            raise IndexStateError("a version read from the Milvus engine alone does not list its rows")
        return self.vectors_at(np.arange(len(self), dtype=np.int64))

    def vectors_at(self, rows: np.ndarray) -> np.ndarray:
        keys = self._keys_at(rows)
        found = self._all_rows_by_key(np.unique(keys), ["vector"], "read vectors")
        out = np.zeros((len(keys), self._dimension), np.float32)
        for i, key in enumerate(keys.tolist()):
            out[i] = found[key]["vector"]
        return out

    def rows_by_key(
        self, keys: Sequence[int] | np.ndarray, fields: Sequence[str], doing: str
    ) -> dict[int, Any]:
        """The rows (of any version) these keys name, by key, with these fields; a key no row has is left
        out."""
        wanted = [int(key) for key in keys]
        found: dict[int, Any] = {}
        with self._errors(doing):
            for start in range(0, len(wanted), BATCH):
                batch = wanted[start : start + BATCH]
                rows = self._client().query(
                    self.collection, ids=batch, output_fields=list(fields), **self._reading()
                )
                found |= {int(row["key"]): row for row in rows}
        return found

    def _all_rows_by_key(
        self, keys: Sequence[int] | np.ndarray, fields: Sequence[str], doing: str
    ) -> dict[int, Any]:
        """`rows_by_key`, where every key must have its row."""
        found = self.rows_by_key(keys, fields, doing)
        lost = next((int(key) for key in keys if int(key) not in found), None)
        if lost is not None:
            raise IndexStateError(f"Milvus collection {self.collection!r} lost the row with key {lost}")
        return found

    def rows_where(self, expression: str, fields: Sequence[str], doing: str) -> list[Any]:
        """This version's rows that pass `expression` (up to Milvus's top-k limit), with these fields."""
        with self._errors(doing):
            rows: list[Any] = self._client().query(
                self.collection,
                filter=self._visible(expression),
                output_fields=list(fields),
                limit=MAX_TOP_K,
                **self._reading(),
            )
        return rows

    def count_visible(self) -> int:
        """How many rows this version sees in the collection."""
        with self._errors("count the version's rows"):
            counted = self._client().query(
                self.collection, filter=self._visible(), output_fields=["count(*)"], **self._reading()
            )
        return int(counted[0]["count(*)"])

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, rows) per query; `allowed` rows become a filter on their keys, fine for a few
        thousand (the retriever filters by date and outlet with `search_where` instead)."""
        queries = as_matrix(queries, self._dimension)
        if allowed is None:
            return self._search(list(queries), "vector", k, "")
        rows = np.unique(np.asarray(allowed, dtype=np.int64))
        if self._served_rows is None and len(rows) and (rows[0] < 0 or rows[-1] >= len(self)):
            raise ValueError(f"allowed rows must lie in 0..{len(self) - 1}")
        if len(rows) == 0:
            return self._search(list(queries), "vector", k, "", nothing=True)
        keys = ",".join(str(key) for key in self._keys_at(rows).tolist())
        return self._search(list(queries), "vector", k, f"key in [{keys}]")

    def search_where(self, queries: np.ndarray, k: int, where: RowFilter) -> tuple[np.ndarray, np.ndarray]:
        return self._search(list(as_matrix(queries, self._dimension)), "vector", k, where_expression(where))

    def search_text_where(
        self, texts: Sequence[str], k: int, where: RowFilter
    ) -> tuple[np.ndarray, np.ndarray]:
        """BM25 top-k (scores, rows) per text, by the engine, over the rows whose fields pass `where`."""
        self._require_text()
        return self._search(list(texts), "sparse", k, where_expression(where))

    def hybrid_where(
        self, queries: np.ndarray, texts: Sequence[str], k: int, where: RowFilter, rrf_k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """One request: the engine ranks each query by inner product and its text by BM25, both
        filtered, and fuses them by reciprocal rank (RRFRanker(rrf_k)); ties are ordered by row."""
        from pymilvus import AnnSearchRequest, RRFRanker

        self._require_text()
        queries = as_matrix(queries, self._dimension)
        if not 1 <= k <= MAX_TOP_K or len(queries) != len(texts):
            raise ValueError(f"k must be in 1..{MAX_TOP_K} and each query needs its text")
        out_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        out_rows = np.full((len(queries), k), -1, dtype=np.int64)
        expression = self._visible(where_expression(where))
        for q, (vector, text) in enumerate(zip(queries, texts, strict=True)):
            requests = [
                AnnSearchRequest([vector], "vector", {"metric_type": "IP"}, k, expr=expression),
                AnnSearchRequest([text], "sparse", {"metric_type": "BM25"}, k, expr=expression),
            ]
            with self._errors("run a hybrid search"):
                hits = self._client().hybrid_search(
                    self.collection,
                    requests,
                    RRFRanker(rrf_k),
                    limit=k,
                    output_fields=["key"],
                    **self._reading(),
                )[0]
            self._place(hits, q, out_scores, out_rows)
        return out_scores, out_rows

    def _require_text(self) -> None:
        if not self.has_text:
            raise IndexStateError(f"Milvus collection {self.collection!r} runs no BM25 (made without text)")

    def _search(
        self, data: list[Any], field: str, k: int, expression: str, nothing: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Milvus orders equal scores as it likes; FAISS by row. A few more hits than k are fetched, more
        while the last one still ties the k-th, and the hits are sorted by score, then row."""
        if not 1 <= k <= MAX_TOP_K:
            raise ValueError(f"k must be in 1..{MAX_TOP_K} for a Milvus search, got {k}")
        out_scores = np.full((len(data), k), -np.inf, dtype=np.float32)
        out_rows = np.full((len(data), k), -1, dtype=np.int64)
        if nothing or len(self) == 0 or len(data) == 0:
            return out_scores, out_rows
        limit = min(k + TIE_SLACK, MAX_TOP_K)
        metric = "BM25" if field == "sparse" else "IP"
        while True:
            with self._errors(f"search {field}"):
                results = self._client().search(
                    self.collection,
                    data=data,
                    limit=limit,
                    filter=self._visible(expression),
                    output_fields=["key"],
                    anns_field=field,
                    search_params={"metric_type": metric},
                    **self._reading(),
                )
            if not _ties_at_limit(results, k, limit) or limit == MAX_TOP_K:
                break
            limit = min(2 * limit, MAX_TOP_K)
        for q, hits in enumerate(results):
            self._place(hits, q, out_scores, out_rows)
        return out_scores, out_rows

    def _place(self, hits: Any, q: int, out_scores: np.ndarray, out_rows: np.ndarray) -> None:
        """Query q's hits into row q of the outputs, best first, equal scores by row (as FAISS does)."""
        scores = np.array([hit["distance"] for hit in hits], dtype=np.float32)
        rows = self._rows_of(np.array([hit["key"] for hit in hits], dtype=np.int64))
        order = np.lexsort((rows, -scores))[: out_rows.shape[1]]
        out_scores[q, : len(order)] = scores[order]
        out_rows[q, : len(order)] = rows[order]

    def _rows_of(self, keys: np.ndarray) -> np.ndarray:
        if self._served_rows is not None:
            return keys
        positions = np.searchsorted(self._keys, keys)
        inside = positions < len(self._keys)
        if not inside.all() or np.any(self._keys[positions[inside]] != keys):
            raise IndexStateError(
                f"Milvus collection {self.collection!r} returned rows that generation {self._generation} "
                "does not list; the index is damaged (`newsdesk check --repair` rebuilds it)"
            )
        return positions.astype(np.int64)


def _ties_at_limit(results: Any, k: int, limit: int) -> bool:
    return any(
        len(hits) == limit and len(hits) > k and hits[-1]["distance"] == hits[k - 1]["distance"]
        for hits in results
    )


def _plain(row: Any, fields: Sequence[str]) -> dict[str, Any]:
    """A queried row as an insert takes it: its stored fields only, vectors as plain lists."""
    out = {}
    for name in fields:
        value = row[name]
        out[name] = value.tolist() if isinstance(value, np.ndarray) else value
    return out


def _last_change(client: Any, collection: str) -> int:
    """The engine's timestamp of this client's last change to `collection`, as pymilvus keeps it for
    Session reads; 0 where the engine gives none (the 2.5 engine in milvus-lite, which serves every read
    after the writes before it)."""
    try:
        from pymilvus.client import ts_utils

        address = client._get_connection().server_address
        return int(ts_utils.get_collection_ts(collection, address, ""))
    except Exception:  # Milvus Lite 3.2.2 keeps no timestamps
        return 0
