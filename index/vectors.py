"""Vector search behind one small protocol. Only this module and `index.tiered` import faiss.

Rows are numbered 0..n-1 in insertion order; the SQLite store maps rows to chunks.
Vectors are L2-normalized, so inner product is cosine similarity.

A store is named in the manifest by a spec: a backend name ("tiered", "faiss-flat-ip", "numpy"), or
"milvus:URI#COLLECTION" for a store whose rows live in Milvus (see `index.milvus_store`). Each backend
declares its name in `STORES`; a new one registers a `StoreBackend` there.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from index.errors import IndexStateError
from index.registry import Registry
from index.tiered import TieredStore, as_matrix


class VectorStore(Protocol):
    backend: str

    @property
    def dimension(self) -> int: ...

    def __len__(self) -> int: ...

    def add(self, vectors: np.ndarray) -> None: ...

    def vectors(self) -> np.ndarray:
        """All stored rows, in order (used to carry vectors into a new index version)."""
        ...

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, rows) per query; `allowed` restricts the search to those rows; -1 pads."""
        ...

    def save(self, path: Path) -> None: ...


@dataclass(frozen=True, slots=True)
class RowFields:
    """What a store that filters, runs BM25 and serves passages by itself (Milvus) keeps beside a row's
    vector: its article's publication day (ISO) and outlet, which searches filter by; and the chunk's text
    and place (article, ordinal, character span) with its article's title, url and time, which BM25
    and citations read."""

    published_date: str | None
    source: str | None
    text: str = ""
    chunk_id: str = ""
    article_id: str = ""
    ordinal: int = 0
    start: int = 0
    end: int = 0
    title: str = ""
    url: str | None = None
    published_at: str | None = None


@dataclass(frozen=True, slots=True)
class RowFilter:
    """A date range (ISO days, inclusive) and outlets (any case), as `Catalog.filtered_rows` reads them."""

    since: str | None = None
    until: str | None = None
    sources: tuple[str, ...] = ()


@runtime_checkable
class SharedStore(VectorStore, Protocol):
    """A store whose rows live in a service that every index version shares (Milvus), not in the version
    folder. A new version is derived from the last without copying its vectors, and each row carries its
    article's date and outlet, so that filters run inside the store's own search."""

    def successor(self, kept_rows: np.ndarray) -> SharedStore:
        """The store for the next version: these rows of this one, in this order, and then what is
        added. This version stays as it is for its readers."""
        ...

    def add_rows(self, vectors: np.ndarray, fields: Sequence[RowFields]) -> None: ...

    def search_where(self, queries: np.ndarray, k: int, where: RowFilter) -> tuple[np.ndarray, np.ndarray]:
        """`search` over the rows whose fields pass `where`."""
        ...

    def vectors_at(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of these rows, without reading the others."""
        ...


@runtime_checkable
class EngineTextSearch(Protocol):
    """A store that may also run BM25 over its rows' text, inside its own engine (Milvus 2.5+)."""

    has_text: bool

    def search_where(
        self, queries: np.ndarray, k: int, where: RowFilter
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def search_text_where(
        self, texts: Sequence[str], k: int, where: RowFilter
    ) -> tuple[np.ndarray, np.ndarray]:
        """BM25 top-k (scores, rows) per text over the rows whose fields pass `where`; -1 pads."""
        ...

    def hybrid_where(
        self, queries: np.ndarray, texts: Sequence[str], k: int, where: RowFilter, rrf_k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The dense and BM25 rankings of each (query, text), fused by the engine's reciprocal rank."""
        ...


class NumpyStore:
    """Exact search with NumPy: the reference the FAISS store is tested against."""

    backend = "numpy"

    def __init__(self, dimension: int, data: np.ndarray | None = None) -> None:
        self._dimension = dimension
        self._data = np.zeros((0, dimension), np.float32) if data is None else as_matrix(data, dimension)

    @property
    def dimension(self) -> int:
        return self._dimension

    def __len__(self) -> int:
        return int(self._data.shape[0])

    def add(self, vectors: np.ndarray) -> None:
        self._data = np.vstack([self._data, as_matrix(vectors, self._dimension)])

    def vectors(self) -> np.ndarray:
        return self._data.copy()

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = as_matrix(queries, self._dimension)
        rows = np.arange(len(self)) if allowed is None else np.asarray(allowed, dtype=np.int64)
        scores = queries @ self._data[rows].T
        take = min(k, len(rows))
        out_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        out_rows = np.full((len(queries), k), -1, dtype=np.int64)
        for q in range(len(queries)):
            # Ties broken by row number, as FAISS does.
            order = np.lexsort((rows, -scores[q]))[:take]
            out_scores[q, :take] = scores[q, order]
            out_rows[q, :take] = rows[order]
        return out_scores, out_rows

    def save(self, path: Path) -> None:
        with open(path, "wb") as handle:
            np.save(handle, self._data, allow_pickle=False)
            handle.flush()
            os.fsync(handle.fileno())

    @classmethod
    def load(cls, path: Path, dimension: int) -> NumpyStore:
        return cls(dimension, np.load(path, allow_pickle=False))


class FaissStore:
    """Exact inner-product search with FAISS (IndexFlatIP)."""

    backend = "faiss-flat-ip"

    def __init__(self, dimension: int, index: Any = None) -> None:
        import faiss

        self._faiss = faiss
        self._dimension = dimension
        self._index: Any = index if index is not None else faiss.IndexFlatIP(dimension)

    @property
    def dimension(self) -> int:
        return self._dimension

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        self._index.add(as_matrix(vectors, self._dimension))

    def vectors(self) -> np.ndarray:
        if len(self) == 0:
            return np.zeros((0, self._dimension), np.float32)
        return np.asarray(self._index.reconstruct_n(0, len(self)), dtype=np.float32)

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = as_matrix(queries, self._dimension)
        params = None
        if allowed is not None:
            ids = np.ascontiguousarray(allowed, dtype=np.int64)
            params = self._faiss.SearchParameters()
            params.sel = self._faiss.IDSelectorBatch(ids)
        scores, rows = self._index.search(queries, k, params=params)
        return np.asarray(scores, np.float32), np.asarray(rows, np.int64)

    def save(self, path: Path) -> None:
        self._faiss.write_index(self._index, str(path))
        with open(path, "rb+") as handle:
            os.fsync(handle.fileno())

    @classmethod
    def load(cls, path: Path, dimension: int) -> FaissStore:
        import faiss

        try:
            index = faiss.read_index(str(path))
        except RuntimeError as error:
            raise IndexStateError(f"{path}: cannot be read as a FAISS index ({error})") from error
        if index.d != dimension:
            raise IndexStateError(
                f"{path}: holds {index.d}-dimensional vectors, the manifest says {dimension}"
            )
        return cls(dimension, index)


class StoreBackend(Protocol):
    """What a vector backend declares in `STORES`: how a spec naming it becomes a store."""

    def record(self, spec: str, index_root: Path) -> str:
        """The spec a new index at `index_root` records in its manifest."""
        ...

    def same(self, spec: str, built: str, index_root: Path) -> bool:
        """Whether `spec` (as given to --store) names the store an index recorded as `built`."""
        ...

    def file_name(self, spec: str) -> str:
        """The file in a version folder that holds (or points at) the vectors."""
        ...

    def new(self, spec: str, dimension: int) -> VectorStore: ...

    def load(self, spec: str, path: Path, dimension: int) -> VectorStore: ...


@dataclass(frozen=True, slots=True)
class FileBackend:
    """A store saved whole in one file of each version folder."""

    store: type[NumpyStore] | type[FaissStore] | type[TieredStore]
    file: str

    def record(self, spec: str, index_root: Path) -> str:
        return spec

    def same(self, spec: str, built: str, index_root: Path) -> bool:
        return spec == built

    def file_name(self, spec: str) -> str:
        return self.file

    def new(self, spec: str, dimension: int) -> VectorStore:
        return self.store(dimension)

    def load(self, spec: str, path: Path, dimension: int) -> VectorStore:
        return self.store.load(path, dimension)


MILVUS = "milvus"


class MilvusBackend:
    """`milvus:PATH_OR_URI[#COLLECTION]`: rows in a Milvus collection that every version shares. The spec's
    part after the colon is the location; pymilvus is imported only when a store is made or opened."""

    @staticmethod
    def _location(spec: str) -> str:
        return spec.partition(":")[2]

    def record(self, spec: str, index_root: Path) -> str:
        """The absolute Lite path or server URI, and the collection this index owns (named after
        `index_root` unless the spec says)."""
        from index.milvus_store import resolve_location

        return f"{MILVUS}:{resolve_location(self._location(spec), index_root)}"

    def same(self, spec: str, built: str, index_root: Path) -> bool:
        """A spec that names no collection matches by its URI: the collection was named when the index
        was made."""
        wanted = self.record(spec, index_root)
        if "#" not in spec and built.partition(":")[0] == MILVUS:
            return wanted.rpartition("#")[0] == built.rpartition("#")[0]
        return wanted == built

    def file_name(self, spec: str) -> str:
        from index.milvus_store import STATE_FILE

        return STATE_FILE

    def new(self, spec: str, dimension: int) -> VectorStore:
        from index.milvus_store import MilvusStore

        return MilvusStore.empty(self._location(spec), dimension)

    def load(self, spec: str, path: Path, dimension: int) -> VectorStore:
        from index.milvus_store import MilvusStore

        return MilvusStore.load(path, dimension, self._location(spec))


STORES: Registry[StoreBackend] = Registry("vector backend", error=IndexStateError)
STORES.add(NumpyStore.backend, FileBackend(NumpyStore, "vectors.npy"))
STORES.add(FaissStore.backend, FileBackend(FaissStore, "vectors.faiss"))
STORES.add(TieredStore.backend, FileBackend(TieredStore, "vectors.npy"))
STORES.add(MILVUS, MilvusBackend(), prefix=f"{MILVUS}:", shown=f"{MILVUS}:PATH_OR_URI")
DEFAULT_BACKEND = TieredStore.backend


def resolve_backend(spec: str, index_root: Path) -> str:
    """The spec a new index records: a known backend name, or for Milvus the absolute Lite path or
    server URI and the collection this index owns."""
    return STORES.resolve(spec).record(spec, index_root)


def same_store(spec: str, built: str, index_root: Path) -> bool:
    """Whether `spec` (as given to --store) names the store an index was built with."""
    return STORES.resolve(spec).same(spec, built, index_root)


def store_file(spec: str) -> str:
    """The file in a version folder that holds (or, for Milvus, points at) the vectors."""
    return STORES.resolve(spec).file_name(spec)


def new_store(backend: str, dimension: int) -> VectorStore:
    return STORES.resolve(backend).new(backend, dimension)


def load_store(backend: str, path: Path, dimension: int) -> VectorStore:
    return STORES.resolve(backend).load(backend, path, dimension)


def next_store(
    base: VectorStore | None, backend: str, dimension: int, kept_rows: Sequence[int]
) -> VectorStore:
    """The store a new version starts from: the base's kept rows, in order. A shared store derives it
    without copying a vector; a file store copies them into a new one, saved whole in the new folder."""
    rows = np.asarray(kept_rows, dtype=np.int64)
    if base is None:
        base = new_store(backend, dimension)  # empty: a shared one starts its collection over
    if isinstance(base, SharedStore):
        return base.successor(rows)
    store = new_store(backend, dimension)
    if len(rows):
        store.add(base.vectors()[rows])
    return store


def vectors_at(store: VectorStore, rows: Sequence[int]) -> np.ndarray:
    """The vectors of these rows: a shared store reads only them; a file store indexes its rows."""
    wanted = np.asarray(rows, dtype=np.int64)
    if isinstance(store, SharedStore):
        return store.vectors_at(wanted)
    return np.asarray(store.vectors()[wanted], dtype=np.float32)


def filtered_search(
    store: VectorStore, queries: np.ndarray, k: int, allowed: np.ndarray | None, where: RowFilter | None
) -> tuple[np.ndarray, np.ndarray]:
    """A dense search restricted by the filters: a shared store applies `where` to its own fields in the
    search; the others search only the `allowed` rows, which the catalog found for the same filters."""
    if where is not None and isinstance(store, SharedStore):
        return store.search_where(queries, k, where)
    return store.search(queries, k, allowed)
