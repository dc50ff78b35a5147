"""Vector search behind one small protocol. Only this module and `index.tiered` import faiss.

Rows are numbered 0..n-1 in insertion order; the SQLite store maps rows to chunks.
Vectors are L2-normalized, so inner product is cosine similarity.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from index.errors import IndexStateError
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


BACKENDS: dict[str, type[NumpyStore] | type[FaissStore] | type[TieredStore]] = {
    NumpyStore.backend: NumpyStore,
    FaissStore.backend: FaissStore,
    TieredStore.backend: TieredStore,
}
DEFAULT_BACKEND = TieredStore.backend
FILE_NAMES = {
    NumpyStore.backend: "vectors.npy",
    FaissStore.backend: "vectors.faiss",
    TieredStore.backend: "vectors.npy",
}


def new_store(backend: str, dimension: int) -> VectorStore:
    if backend not in BACKENDS:
        raise IndexStateError(f"unknown vector backend {backend!r}; known: {', '.join(BACKENDS)}")
    return BACKENDS[backend](dimension)


def load_store(backend: str, path: Path, dimension: int) -> VectorStore:
    if backend not in BACKENDS:
        raise IndexStateError(f"unknown vector backend {backend!r}; known: {', '.join(BACKENDS)}")
    return BACKENDS[backend].load(path, dimension)
